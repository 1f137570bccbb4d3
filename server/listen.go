package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrNeedsToken is wrapped by CheckListenAddr's error for a non-loopback
// address without a token.
var ErrNeedsToken = errors.New("listening beyond loopback needs a bearer token")

// TokenEnv is the environment variable bp serve reads the token from.
const TokenEnv = "BP_SERVER_TOKEN"

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address (127.0.0.0/8, ::1). Other names are not resolved:
// what a name resolves to can change.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, "localhost.") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return ip.Unmap().IsLoopback()
}

// CheckListenAddr refuses to serve without a token on anything but a
// loopback address: an empty host (":8080") means every interface.
func CheckListenAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if token != "" || IsLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without a token: set %s, or listen on 127.0.0.1, ::1 or localhost: %w", addr, TokenEnv, ErrNeedsToken)
}
