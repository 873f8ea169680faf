package tests

// Health checks (issue 16): --health-cmd runs in the container every
// interval; ps shows starting, healthy, then unhealthy after the retries;
// `healthcheck run` runs one now; the checker ends with the container.

import (
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "health")
		status := func() string {
			for _, line := range strings.Split(s.must(t, "ps", "-a").stdout, "\n")[1:] {
				if strings.HasSuffix(strings.TrimSpace(line), " hc") {
					return line
				}
			}
			return ""
		}
		// Healthy while /ok exists, then it is removed.
		s.mustID(t, "run", "-d", "--name", "hc", "--health-cmd", "test -e /ok", "--health-interval", "500ms", "--health-retries", "2",
			"bb", "sh", "-c", "touch /ok; sleep 100")
		if !waitFor(10*time.Second, func() bool { return strings.Contains(status(), "(healthy)") }) {
			t.Fatalf("ps never showed hc healthy: %q", status())
		}
		wantStdout(t, s.must(t, "healthcheck", "run", "hc"), "healthy\n")
		s.must(t, "exec", "hc", "rm", "/ok")
		if !waitFor(10*time.Second, func() bool { return strings.Contains(status(), "(unhealthy)") }) {
			t.Fatalf("ps never showed hc unhealthy after /ok went: %q", status())
		}
		r := s.do(t, "healthcheck", "run", "hc")
		wantCode(t, r, 1)
		wantStdout(t, r, "unhealthy\n")
		health := s.must(t, "inspect", "--format", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}", "hc").stdout
		if !strings.HasPrefix(health, "unhealthy ") || strings.HasPrefix(health, "unhealthy 0") || strings.HasPrefix(health, "unhealthy 1\n") {
			t.Errorf("inspect's health: %q, want unhealthy with 2 or more failures in a row", health)
		}
		checkers := func() []procInfo {
			return healthCheckers(u)
		}
		if len(checkers()) != 1 {
			t.Errorf("health checkers running: %+v, want one", checkers())
		}
		s.must(t, "rm", "-f", "hc")
		if !waitFor(5*time.Second, func() bool { return len(checkers()) == 0 }) {
			t.Errorf("the health checker outlived its container: %+v", checkers())
		}

		// The image's HEALTHCHECK, with no flag: ps shows it too.
		ctx := u.buildContext(t, "health-img", map[string]string{
			"Containerfile": "FROM bb\nHEALTHCHECK --interval=1s --retries=1 CMD test -e /ok\n",
		})
		s.must(t, "build", "-q", "-t", "checked", ctx)
		s.mustID(t, "run", "-d", "--name", "hc", "checked", "sh", "-c", "touch /ok; sleep 100")
		if !waitFor(10*time.Second, func() bool { return strings.Contains(status(), "(healthy)") }) {
			t.Errorf("the image's HEALTHCHECK never made hc healthy: %q", status())
		}
		s.must(t, "rm", "-f", "hc")

		// No check: refused; --no-healthcheck drops one.
		s.mustID(t, "run", "-d", "--name", "plain", "--health-cmd", "true", "--no-healthcheck", "bb", "sleep", "100")
		r = s.do(t, "healthcheck", "run", "plain")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "has no health check") {
			t.Errorf("healthcheck run without a check:\n%s", r)
		}
		if r := s.do(t, "run", "--rm", "--health-interval", "soon", "bb", "true"); r.code != 125 || !strings.Contains(r.stderr, "give a duration") {
			t.Errorf("a bad --health-interval:\n%s", r)
		}
		s.must(t, "rm", "-f", "plain")
	})
}
