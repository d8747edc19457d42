// Package failpoint names the points between the steps of a write
// protocol (after the intent is journalled, after the write is sent, ...)
// where crash tests stop the process, and carries the hook that does it.
//
// Product code calls Hook.At at each point; a nil Hook does nothing, and
// nothing in the release binary ever sets one: only tests build a Hook
// (package failpointtest), so an environment variable cannot make a
// production agent stop mid-write.
package failpoint

// Hook is called with the name of each point reached.
type Hook func(point string)

// At calls h with point, if h is set.
func (h Hook) At(point string) {
	if h != nil {
		h(point)
	}
}
