//go:build !amd64

package idle

// ForwardWhileExecuting does nothing here: there is no idle stage to
// execute.
func ForwardWhileExecuting(pid int, mask uint64) (restore func()) { return func() {} }
