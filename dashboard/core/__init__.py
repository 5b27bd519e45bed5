"""Spack's semantics and the data's vocabulary: versions, spec syntax, microarchitectures, the Arrow schema, the words the UI uses. No pandas frames built, no Panel."""
