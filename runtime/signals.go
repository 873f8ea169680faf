package runtime

import (
	"os"
	"os/signal"
)

// notifyAsync relays sigs to c like signal.Notify, but returns at once:
// Notify enables each signal with a round trip to the runtime's signal
// thread, about 60 µs apiece here, so catching the ten to forward costs
// 0.6–1 ms on the start path, which is better spent meanwhile. caught is
// closed once the relay is set up.
//
// Undoing it costs the same round trips, at the end of a run, when the
// command is usually about to exit: the returned stop therefore returns
// at once, and in the background waits for the relay to be set up,
// undoes it and closes c (Stop guarantees that nothing is sent after
// it), which ends a goroutine ranging over c. Until then a signal may
// still land in c.
func notifyAsync(c chan os.Signal, sigs ...os.Signal) (caught <-chan struct{}, stop func()) {
	done := make(chan struct{})
	go func() {
		signal.Notify(c, sigs...)
		close(done)
	}()
	return done, func() {
		go func() {
			<-done
			signal.Stop(c)
			close(c)
		}()
	}
}
