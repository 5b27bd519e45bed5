// Download the rows the offline export's table shows, as CSV (RFC 4180 quoting).
const d = table.data, cols = tcols;
const quote = (v) => { if (v === null || v === undefined) return ""; const s = String(v);
  return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
const lines = [cols.join(",")];
for (let i = 0; i < d.hash.length; i++) lines.push(cols.map((c) => quote(d[c][i])).join(","));
const blob = new Blob([lines.join("\n") + "\n"], {type: "text/csv"});
const a = document.createElement("a");
a.href = URL.createObjectURL(blob); a.download = "specs.csv";
document.body.appendChild(a); a.click(); a.remove();
