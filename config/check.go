package config

import (
	"errors"
	"fmt"
)

// Check validates what only the merged launch can tell: rules between
// keys that may come from different layers (a flag over a file's key). It
// names each key as the user gave it — "--memory-swap" for a flag,
// "FILE:LINE:COL: resources.memory_swap" for a file — with the same words
// either way.
func (a *App) Check() error {
	var errs []error
	if r := a.Resources; r.MemorySwap != 0 && r.Memory != 0 && r.MemorySwap < r.Memory {
		errs = append(errs, fmt.Errorf("%s (%s) is memory plus swap: it cannot be less than %s (%s)",
			a.where("resources.memory_swap"), FormatBytes(r.MemorySwap), a.name("resources.memory"), FormatBytes(r.Memory)))
	}
	return errors.Join(errs...)
}

// name is key as its source spells it: a flag, or the key.
func (a *App) name(key string) string {
	if k := Lookup(key); k != nil && a.Sources[key] == "flag" {
		return k.FlagName()
	}
	return key
}

// where is name with the file position the key came from, if any.
func (a *App) where(key string) string {
	src := a.Sources[key]
	if src == "" || src == "flag" || src == "default" {
		return a.name(key)
	}
	return src + ": " + key
}
