// Package reference owns the grammar of image references: repository
// names (components of lowercase letters and digits, joined by ".", "_",
// "__" or dashes, separated by "/", the first one with an optional
// ":port"), tags and sha256 digests, as Docker's distribution/reference
// has them.
//
// The checks are plain loops, not regular expressions: compiling the
// grammar's expression cost every `sandbox run` ~160 page faults (3–4 ms
// on the virtual machines the tests run on), more than resolving the
// image itself. A leaf package, so that config can check a reference
// without linking the image store.
package reference
