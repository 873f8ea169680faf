// Package build makes images from a Containerfile (or Dockerfile), with no
// daemon and no root: `sandbox build`.
//
// The file is parsed by BuildKit's Dockerfile parser and instructions
// package (the one Docker's and Podman's tools share), so continuations,
// heredocs, the escape directive and error positions are theirs. Each
// stage the target needs runs in order: FROM resolves an image (pulling it
// when the store lacks it), a stage or scratch; RUN runs as a sandbox of
// the current image (package container) whose writable layer becomes the
// step's layer; COPY and ADD write their layer's tar directly from the
// context (or another stage, or an image), with the image's own directory
// owners and symlinks respected; the other instructions change only the
// config. Every step's result is an unnamed image whose parent is the
// previous step's, and a step whose parent, instruction, build args and
// (for COPY and ADD) layer content are the same is taken from the cache
// (image.Store.CachedStep) instead of being run again.
package build
