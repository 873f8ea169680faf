// Package imagetypes holds the image store's plain records and sentinel
// errors, which package image answers with: a row of the image list, an
// image's details and history, what a removal did, disk usage, a pull's
// progress. They are apart from the store's code so that a program that
// only reads them (the Docker API server) does not link the store;
// package image names each of them again (type aliases), so its callers
// are unchanged.
package imagetypes
