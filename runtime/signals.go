package runtime

import (
	"os"
	"os/signal"
)

// notifyAsync relays sigs to c like signal.Notify, but returns at once:
// Notify enables each signal with a round trip to the runtime's signal
// thread, about 60 µs apiece here, so catching the ten to forward costs
// 0.6–1 ms on the start path, which is better spent meanwhile. The
// returned stop waits for the relay to be set up, then undoes it; caught
// is closed once it is set up.
func notifyAsync(c chan os.Signal, sigs ...os.Signal) (caught <-chan struct{}, stop func()) {
	done := make(chan struct{})
	go func() {
		signal.Notify(c, sigs...)
		close(done)
	}()
	return done, func() {
		<-done
		signal.Stop(c)
	}
}
