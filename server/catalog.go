package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/bprun/bp/scrub"
	"github.com/bprun/bp/vault"
)

// blueprintInfo is one blueprint as GET /v1/blueprints lists it.
type blueprintInfo struct {
	Key         string    `json:"key"`
	Description string    `json:"description,omitempty"`
	Format      string    `json:"format"`
	Source      string    `json:"source,omitempty"`
	Vault       []string  `json:"vault,omitempty"` // the secret names it may read; all when absent
	Valid       bool      `json:"valid"`
	Error       string    `json:"error,omitempty"`
	Problems    []problem `json:"problems,omitempty"`
	// ReloadError says why the blueprint's file, changed, was not
	// loaded: the version listed, the previous one, keeps serving.
	ReloadError    string    `json:"reload_error,omitempty"`
	ReloadProblems []problem `json:"reload_problems,omitempty"`
}

// fileError is a file that gave no blueprint.
type fileError struct {
	Path     string    `json:"path,omitempty"`
	Key      string    `json:"key,omitempty"`
	Error    string    `json:"error"`
	Problems []problem `json:"problems,omitempty"`
}

// GET /v1/blueprints
func (s *Server) listBlueprints(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Blueprints []blueprintInfo `json:"blueprints"`
		Errors     []fileError     `json:"errors"`
	}{Blueprints: []blueprintInfo{}, Errors: []fileError{}}
	if s.lib == nil {
		s.writeJSON(w, http.StatusOK, out, nil)
		return
	}
	set, rejected := s.lib.Set(), s.lib.Rejected()
	for _, bp := range set.Blueprints {
		info := blueprintInfo{Key: bp.Key, Description: bp.Description, Format: bp.Format.String(), Source: bp.Source, Vault: bp.Vault, Valid: true}
		if _, err := s.lib.Program(bp.Key); err != nil {
			info.Valid = false
			info.Error = s.clean(nil, err.Error())
			info.Problems = s.problemsOf(err)
		}
		if why := rejected[bp.Key]; why != nil {
			info.ReloadError = s.clean(nil, why.Error())
			info.ReloadProblems = s.problemsOf(why)
		}
		out.Blueprints = append(out.Blueprints, info)
	}
	for _, fe := range set.Errors {
		out.Errors = append(out.Errors, fileError{Path: fe.Path, Key: fe.Key, Error: s.clean(nil, fe.Error()), Problems: s.problemsOf(fe)})
	}
	s.writeJSON(w, http.StatusOK, out, nil)
}

// GET /v1/vault: names, versions and times; never a value.
func (s *Server) listVault(w http.ResponseWriter, r *http.Request) {
	if s.opts.OpenVault == nil {
		s.fail(w, http.StatusServiceUnavailable, "this server has no vault")
		return
	}
	v, err := s.opts.OpenVault()
	if err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	metas := []vault.Meta{}
	if v != nil {
		list, err := v.List()
		v.Close()
		if err != nil {
			s.vaultFail(w, err, nil)
			return
		}
		metas = append(metas, list...)
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"secrets": metas}, nil)
}

// vaultTarget checks what PUT and DELETE share: a valid secret name and a
// vault this server may change. An invalid name is not echoed: a value
// sent where the name goes must not come back.
func (s *Server) vaultTarget(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if !vault.ValidName(name) {
		s.fail(w, http.StatusBadRequest, "invalid secret name: want [A-Za-z_][A-Za-z0-9_]*")
		return "", false
	}
	if s.opts.OpenVaultRW == nil {
		s.fail(w, http.StatusServiceUnavailable, "this server does not change the vault")
		return "", false
	}
	return name, true
}

// PUT /v1/vault/{name}: the body is the value, byte for byte. 204 with
// the new version in X-Bp-Secret-Version, and a Warning header when the
// value is too short to be masked in run output.
func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	name, ok := s.vaultTarget(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, vault.MaxValueSize))
	_ = rc.SetReadDeadline(time.Time{})
	defer clear(value)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("secret %s: value is larger than %d bytes", name, mbe.Limit))
			return
		}
		s.fail(w, http.StatusBadRequest, "reading the value: "+err.Error())
		return
	}
	// From now on every answer of this server masks it, whatever happens.
	masked := s.scrub.Add(string(value))
	v, err := s.opts.OpenVaultRW()
	if err == nil && v == nil {
		err = errors.New("no vault")
	}
	if err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	defer v.Close()
	if err := v.Set(name, value); err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	m, err := v.Meta(name)
	if err == nil {
		err = s.closeChanged(w, v)
	}
	if err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	w.Header().Set("X-Bp-Secret-Version", fmt.Sprint(m.Version))
	if !masked {
		w.Header().Set("Warning", fmt.Sprintf(`299 bp "secret %s is shorter than %d bytes: run output cannot mask it"`, name, scrub.MinSecretLen))
	}
	w.WriteHeader(http.StatusNoContent)
}

// closeChanged compacts a vault the request changed, so that what the
// change replaced leaves the file (see vault.Compact), and closes it. The
// change is saved either way: a failed compaction is a warning (a header
// and the server's log), not the request's failure.
func (s *Server) closeChanged(w http.ResponseWriter, v *vault.Vault) error {
	if err := v.Compact(); err != nil {
		w.Header().Add("Warning", `299 bp "the change is saved, but the vault file could not be compacted: see the server log"`)
		s.warn("vault not compacted", slog.Any("error", err))
	}
	return v.Close()
}

// DELETE /v1/vault/{name}
func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	name, ok := s.vaultTarget(w, r)
	if !ok {
		return
	}
	v, err := s.opts.OpenVaultRW()
	if err == nil && v == nil {
		err = fmt.Errorf("secret %s: %w", name, vault.ErrNotFound)
	}
	if err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	defer v.Close()
	if err := v.Delete(name); err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	if err := s.closeChanged(w, v); err != nil {
		s.vaultFail(w, err, nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
