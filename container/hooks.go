package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/image"
)

// hookStages are the OCI hooks that run once the root is assembled and
// before the payload starts: where the init waits (Spec.HookWait). The
// hooks of later stages (poststart, poststop) are refused when the
// container is made.
var hookStages = []string{"prestart", "createRuntime", "createContainer", "startContainer"}

// hookRunner runs c's hooks, in order, with the OCI state on stdin, as the
// runtime spec says; the first that fails (or outlives its timeout) ends
// the start with its output.
func hookRunner(s *image.Store, c *Container) func(initPid int) error {
	return func(pid int) error {
		state, _ := json.Marshal(map[string]any{
			"ociVersion": "1.2.0", "id": c.ID, "status": "creating", "pid": pid, "bundle": Dir(s, c.ID),
		})
		for _, h := range c.Config.Hooks {
			ctx, cancel := context.Background(), func() {}
			if h.Timeout != nil && *h.Timeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
			}
			cmd := exec.CommandContext(ctx, h.Path)
			if len(h.Args) > 0 {
				cmd.Args = h.Args
			}
			cmd.Env = h.Env
			cmd.Stdin = bytes.NewReader(state)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				return fmt.Errorf("CDI hook %s (%s, from %s) failed: %v: %s", h.Path, h.HookName, h.Spec, err, strings.TrimSpace(string(out)))
			}
		}
		return nil
	}
}
