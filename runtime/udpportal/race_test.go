//go:build race

package udpportal

// raceEnabled is whether the tests run with the race detector, which
// makes moving bytes ten times slower: the tests that move the most move
// fewer of them then, for the same property.
const raceEnabled = true
