package container

import (
	"errors"
	"testing"
	"time"
)

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy string
		code   int
		err    error
		want   bool
	}{
		{"no", 1, nil, false},
		{"", 1, nil, false},
		{"always", 0, nil, true},
		{"always", 3, nil, true},
		{"on-failure", 0, nil, false},
		{"on-failure", 1, nil, true},
		{"on-failure", 137, nil, true},
		{"always", 125, errors.New("could not start"), false},
	} {
		if got := shouldRestart(tc.policy, tc.code, tc.err); got != tc.want {
			t.Errorf("shouldRestart(%q, %d, %v) = %v, want %v", tc.policy, tc.code, tc.err, got, tc.want)
		}
	}
}

func TestRestartDelay(t *testing.T) {
	d := time.Duration(0)
	var got []time.Duration
	for range 12 {
		d = restartDelay(d, time.Second)
		got = append(got, d)
	}
	if got[0] != restartFirstDelay || got[1] != 2*restartFirstDelay || got[2] != 4*restartFirstDelay {
		t.Errorf("delays do not double from %v: %v", restartFirstDelay, got)
	}
	if got[len(got)-1] != restartMaxDelay {
		t.Errorf("delay after 12 quick failures = %v, want the cap %v", got[len(got)-1], restartMaxDelay)
	}
	if d := restartDelay(restartMaxDelay, restartResetAfter); d != restartFirstDelay {
		t.Errorf("after a long run the delay is %v, want it reset to %v", d, restartFirstDelay)
	}
}
