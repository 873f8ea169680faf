//go:build !amd64

package idle

// Forwards says ForwardWhileExecuting sends signals on here.
const Forwards = false

// ForwardWhileExecuting does nothing here: there is no idle stage to
// execute.
func ForwardWhileExecuting(pid int, mask uint64) (restore func()) { return func() {} }
