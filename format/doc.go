// Package format prints what list and inspect commands show the way
// Docker's and Podman's --format does: "json"; a Go template executed per
// row ("{{.Names}} {{.Status}}"); or "table TEMPLATE", the same with a
// header row made from the columns' names and the columns aligned. The
// template functions are Docker's (json, join, split, lower, upper, title,
// truncate, pad), `\t` and `\n` in the argument are a tab and a newline as
// Docker reads them, and a field the rows do not have is an *FieldError
// that names the ones they do. It also owns the human units those columns
// use ("About a minute ago", "23.5MB"), from docker/go-units.
package format
