package runtime

import "time"

// KeepAlive paces the keepalives of a part that keeps a conversation with
// another node over routes that may die silently (a portal stream, a
// secure channel): how long it may go without sending before it sends a
// keepalive, and how long without hearing anything before it gives the
// other end up.
type KeepAlive struct {
	Every, DeadAfter time.Duration
}

// WithDefaults is k with what it leaves zero filled in: every 10s, dead
// after three times Every.
func (k KeepAlive) WithDefaults() KeepAlive {
	if k.Every <= 0 {
		k.Every = 10 * time.Second
	}
	if k.DeadAfter <= 0 {
		k.DeadAfter = 3 * k.Every
	}
	return k
}
