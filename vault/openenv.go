package vault

// OpenEnv opens the vault the way every bp command does: path, or
// DefaultPath(env) when path is "", with the key from ResolveKey(env).
// Runs call it with Options{ReadOnly: true}.
func OpenEnv(path string, env func(string) string, opts Options) (*Vault, error) {
	if path == "" {
		p, err := DefaultPath(env)
		if err != nil {
			return nil, err
		}
		path = p
	}
	key, err := ResolveKey(env)
	if err != nil {
		return nil, err
	}
	defer key.Zero()
	return Open(path, key, opts)
}
