//go:build !race

package export

// raceEnabled is whether the tests run with the race detector.
const raceEnabled = false
