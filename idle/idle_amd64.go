package idle

// entry is the ELF entry point of a program linked with
// -E github.com/sandbox-dev/sandbox/idle.entry (idle_amd64.s).
func entry()
