// The offline export's query engine: dashboard.domain.query.compute, in the browser.
// Run by a Bokeh CustomJS on every selector change of the file written by
// dashboard/export.py; its arguments (raw, stk, cats, w, nums, hm1..3, f1..3, m1..3,
// table, tcols, tfilter, topnBox, rootStack, stacksLabel) are named there.
// Semantics as dashboard/domain/query.py: OR within a selector, AND across; stacks match
// when a spec is in any chosen stack; option counts are under the *other* filters.
// tests/test_walk.py checks it against query.compute over random selections.
const R = raw.data, S = stk.data, n = R.tag.length;
function lut(widget, cats) {
  if (!widget.value.length) return null;
  const want = new Set(widget.value), t = new Uint8Array(cats.length);
  cats.forEach((c, i) => { if (want.has(c)) t[i] = 1; });
  return t;
}
const L = {tag: lut(w.tag, cats.tag), os: lut(w.os, cats.os), target: lut(w.target, cats.target),
           version: lut(w.version, cats.version)};
const needle = w.package.value.trim().toLowerCase();
const pkgOk = needle ? cats.package.map((p) => p.toLowerCase().includes(needle)) : null;
const stackSel = lut(w.stack, cats.stack);
let inStack = null;
if (stackSel) {
  inStack = new Uint8Array(n);
  for (let k = 0; k < S.spec.length; k++) if (stackSel[S.stack[k]]) inStack[S.spec[k]] = 1;
}
// one pass: the mask, and for every selector the counts under all *other* filters
// (a row failing exactly one filter still counts for that filter's own options)
const D = ["tag", "os", "target", "version"], cnt = {};
for (const d of [...D, "stack"]) cnt[d] = new Int32Array(cats[d].length);
const mask = new Uint8Array(n), otherOk = new Uint8Array(n), tagOk = new Uint8Array(n);
let nspec = 0;
for (let i = 0; i < n; i++) {
  let nf = 0, which = -1;
  for (let j = 0; j < 4; j++) { const t = L[D[j]]; if (t && !t[R[D[j]][i]]) { nf++; which = j; } }
  if (pkgOk && !pkgOk[R.package[i]]) { nf++; which = 4; }
  if (inStack && !inStack[i]) { nf++; which = 5; }
  if (nf === 0) { mask[i] = 1; nspec++; for (const d of D) cnt[d][R[d][i]]++; }
  else if (nf === 1 && which < 4) cnt[D[which]][R[D[which]][i]]++;
  otherOk[i] = nf === 0 || (nf === 1 && which === 5);
  tagOk[i] = nf === 0 || (nf === 1 && which === 0);  // the stack x tag heatmap ignores the tag filter
}
for (let k = 0; k < S.spec.length; k++) if (otherOk[S.spec[k]]) cnt.stack[S.stack[k]]++;
const esc = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#x27;");
// option labels last, after the numbers, heatmaps and table have been drawn
setTimeout(() => {
  for (const d of [...D, "stack"]) {
    const chosen = new Set(w[d].value), opts = [];
    cats[d].forEach((v, c) => { if (cnt[d][c] > 0 || chosen.has(v)) opts.push([v, esc(`${v} (${cnt[d][c].toLocaleString("en-US")})`)]); });
    const old = w[d].options;  // re-rendering a long option list is the slow part: skip if unchanged
    if (old.length !== opts.length || opts.some((o, k) => o[1] !== old[k][1])) w[d].options = opts;
  }
}, 0);
// headline numbers
const pk = new Set(), tg = new Set(), st = new Set();
for (let i = 0; i < n; i++) if (mask[i]) { pk.add(R.package[i]); tg.add(R.tag[i]); }
// package x stack counts; the stack number counts named stacks (never root) holding
// a selected spec, among the chosen stacks when any named one is chosen (as query.headline)
const named = w.stack.value.filter((v) => v !== rootStack);
const counted = cats.stack.map((v) => v !== rootStack && (!named.length || named.includes(v)));
const nS = cats.stack.length, ps = new Map(), perPkg = new Map();
for (let k = 0; k < S.spec.length; k++) {
  const i = S.spec[k];
  if (!mask[i]) continue;
  if (counted[S.stack[k]]) st.add(S.stack[k]);
  if (stackSel && !stackSel[S.stack[k]]) continue;
  const key = R.package[i] * nS + S.stack[k];
  ps.set(key, (ps.get(key) || 0) + 1);
}
for (let i = 0; i < n; i++) if (mask[i]) perPkg.set(R.package[i], (perPkg.get(R.package[i]) || 0) + 1);
const num = (v, label) => `<span style="margin-right:2em;font-size:13pt"><b style="font-size:22pt">${v.toLocaleString()}</b> ${label}</span>`;
nums.text = num(pk.size, "Packages") + num(nspec, "Specs") + num(st.size, stacksLabel) + num(tg.size, "Tags")
  + (nspec ? "" : '<div class="empty-note" style="background:#fff4e5;padding:6px 10px"><b>No specs match this selection.</b> Remove a filter.</div>');
nums.tags = [pk.size, nspec, st.size, tg.size];
const top = [...perPkg.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, parseInt(topnBox.value) || 30).map((e) => e[0]);
const topSet = new Set(top);
const hx = [], hy = [], hc = [];
for (const [key, c] of ps) {
  const p = Math.floor(key / nS), s = key % nS;
  if (topSet.has(p)) { hx.push(cats.stack[s]); hy.push(cats.package[p]); hc.push(c); }
}
const stacksShown = [...new Set(hx)].sort((a, b) => (a === rootStack) - (b === rootStack) || (a < b ? -1 : a > b ? 1 : 0));
hm1.data = {x: hx, y: hy, count: hc};
f1.x_range.factors = stacksShown.length ? stacksShown : ["(none)"];
f1.y_range.factors = top.length ? top.map((p) => cats.package[p]).reverse() : ["(none)"];
m1.high = Math.max(10, ...hc);
// OS x target
const nT = cats.target.length, ot = new Map();
for (let i = 0; i < n; i++) if (mask[i]) { const key = R.os[i] * nT + R.target[i]; ot.set(key, (ot.get(key) || 0) + 1); }
const ox = [], oy = [], oc = [];
for (const [key, c] of ot) { ox.push(cats.target[key % nT]); oy.push(cats.os[Math.floor(key / nT)]); oc.push(c); }
hm2.data = {x: ox, y: oy, count: oc};
f2.x_range.factors = ox.length ? [...new Set(ox)].sort() : ["(none)"];
f2.y_range.factors = oy.length ? [...new Set(oy)].sort().reverse() : ["(none)"];
m2.high = Math.max(10, ...oc);
// stack x tag (every tag stays visible for comparison), stacks within the chosen ones
const nTg = cats.tag.length, sg = new Map();
for (let k = 0; k < S.spec.length; k++) {
  const i = S.spec[k];
  if (!tagOk[i] || (stackSel && !stackSel[S.stack[k]])) continue;
  const key = S.stack[k] * nTg + R.tag[i];
  sg.set(key, (sg.get(key) || 0) + 1);
}
const sx = [], sy = [], sc = [];
for (const [key, c] of sg) { sx.push(cats.tag[key % nTg]); sy.push(cats.stack[Math.floor(key / nTg)]); sc.push(c); }
const byStack = (a, b) => (a === rootStack) - (b === rootStack) || (a < b ? -1 : a > b ? 1 : 0);
hm3.data = {x: sx, y: sy, count: sc};
f3.x_range.factors = sx.length ? [...new Set(sx)].sort() : ["(none)"];
f3.y_range.factors = sy.length ? [...new Set(sy)].sort(byStack).reverse() : ["(none)"];
m3.high = Math.max(10, ...sc);
// table: selection, then the free-text table filter
const q = tfilter.value.trim().toLowerCase();
const cols = {};
for (const c of tcols) cols[c] = [];
for (let i = 0; i < n; i++) {
  if (!mask[i]) continue;
  const rec = {};
  for (const c of tcols) {
    const v = c === "hash" ? R.hash[i] : ncols.includes(c) ? (R[c][i] < 0 ? null : R[c][i]) : cats[c][R[c][i]];
    rec[c] = v;
  }
  if (q && !tcols.some((c) => rec[c] !== null && String(rec[c]).toLowerCase().includes(q))) continue;
  for (const c of tcols) cols[c].push(rec[c]);
}
table.data = cols;
table.selected.indices = [];
