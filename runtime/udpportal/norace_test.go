//go:build !race

package udpportal

// raceEnabled is whether the tests run with the race detector.
const raceEnabled = false
