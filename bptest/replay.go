package bptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/bprun/bp/engine"
)

// exchange is one recorded request and the response to serve for it.
type exchange struct {
	index int

	method   string // "" or "*": any
	url      string // exact, normalized; "" when pattern is set
	pattern  *regexp.Regexp
	headers  map[string]string
	body     any  // string: exact text; else a JSON value
	hasBody  bool // body was given
	jsonBody bool

	status   int
	respHdr  http.Header
	respBody []byte
	err      string
	repeat   bool

	used int
}

func newExchange(i int, f exchangeFile, vault fakeVault) (*exchange, error) {
	e := &exchange{index: i, method: strings.ToUpper(f.Request.Method), repeat: f.Repeat}
	if e.method == "" {
		e.method = http.MethodGet
	}
	switch {
	case f.Request.URL != "" && f.Request.URLPattern != "":
		return nil, errors.New("request: give url or urlPattern, not both")
	case f.Request.URL != "":
		u, err := expandURL(f.Request.URL, vault)
		if err != nil {
			return nil, fmt.Errorf("request: url: %v", err)
		}
		e.url = normalizeURL(u)
	case f.Request.URLPattern != "":
		parts, err := parseTmpl(f.Request.URLPattern, vault)
		if err != nil {
			return nil, fmt.Errorf("request: urlPattern: %v", err)
		}
		p, err := expand(parts, vault, regexp.QuoteMeta)
		if err != nil {
			return nil, fmt.Errorf("request: urlPattern: %v", err)
		}
		re, err := compilePattern(p)
		if err != nil {
			return nil, fmt.Errorf("request: urlPattern: %v", err)
		}
		e.pattern = re
	default:
		return nil, errors.New("request: url or urlPattern is required")
	}
	if len(f.Request.Headers) > 0 {
		e.headers = map[string]string{}
		for k, v := range f.Request.Headers {
			x, err := expandText(fmt.Sprint(v), vault)
			if err != nil {
				return nil, fmt.Errorf("request: headers: %s: %v", k, err)
			}
			e.headers[k] = x
		}
	}
	if f.Request.Body != nil {
		e.hasBody = true
		if s, ok := f.Request.Body.(string); ok {
			x, err := expandText(s, vault)
			if err != nil {
				return nil, fmt.Errorf("request: body: %v", err)
			}
			e.body = x
		} else {
			v, err := jsonValue(f.Request.Body)
			if err == nil {
				v, err = expandValue(v, vault)
			}
			if err != nil {
				return nil, fmt.Errorf("request: body: %v", err)
			}
			e.body, e.jsonBody = v, true
		}
	}

	e.status = f.Response.Status
	if e.status == 0 {
		e.status = http.StatusOK
	}
	if e.status < 100 || e.status > 999 {
		return nil, fmt.Errorf("response: status %d is not an HTTP status", e.status)
	}
	e.err = f.Response.Error
	e.respHdr = http.Header{}
	for k, v := range f.Response.Headers {
		values := []any{v}
		if list, ok := v.([]any); ok {
			values = list
		}
		for _, x := range values {
			t, err := expandText(fmt.Sprint(x), vault)
			if err != nil {
				return nil, fmt.Errorf("response: headers: %s: %v", k, err)
			}
			e.respHdr.Add(k, t)
		}
	}
	switch b := f.Response.Body.(type) {
	case nil:
	case string:
		t, err := expandText(b, vault)
		if err != nil {
			return nil, fmt.Errorf("response: body: %v", err)
		}
		e.respBody = []byte(t)
	default:
		v, err := expandValue(yamlToJSON(b), vault)
		if err != nil {
			return nil, fmt.Errorf("response: body: %v", err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("response: body: %v", err)
		}
		e.respBody = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if e.respHdr.Get("Content-Type") == "" {
			e.respHdr.Set("Content-Type", "application/json")
		}
	}
	return e, nil
}

// describe names an exchange in messages.
func (e *exchange) describe() string {
	u := e.url
	if e.pattern != nil {
		u = "~" + e.pattern.String()
	}
	return fmt.Sprintf("http[%d] %s %s", e.index, e.method, u)
}

// matches reports whether a request (its body read already) is this
// exchange's.
func (e *exchange) matches(req *http.Request, body []byte) bool {
	if e.method != "*" && e.method != req.Method {
		return false
	}
	u := req.URL.String()
	if e.pattern != nil {
		if !e.pattern.MatchString(u) {
			return false
		}
	} else if e.url != normalizeURL(u) {
		return false
	}
	for k, v := range e.headers {
		if !slicesContains(req.Header.Values(k), v) {
			return false
		}
	}
	if e.hasBody {
		if !e.jsonBody {
			return string(body) == e.body.(string)
		}
		got, err := engine.DecodeJSON(body)
		if err != nil || !reflect.DeepEqual(got, e.body) {
			return false
		}
	}
	return true
}

func slicesContains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// normalizeURL makes URLs that differ only in query order, escaping or
// the case of scheme and host compare equal.
func normalizeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if u.RawQuery != "" {
		u.RawQuery = u.Query().Encode() // sorted by key
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = ""
	return u.String()
}

// replayer is the HTTP transport of a case: it serves the recorded
// exchanges and remembers the requests it could not serve.
type replayer struct {
	mu        sync.Mutex
	exchanges []*exchange
	unmatched []string // "METHOD URL", each once, in order
	closest   []string // for each, the exchange it came closest to
}

func newReplayer(ex []*exchange) *replayer { return &replayer{exchanges: ex} }

// errNoExchange is what a block sees for a request nothing recorded.
var errNoExchange = errors.New("bptest: no recorded exchange matches this request")

func (r *replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	r.mu.Lock()
	var hit *exchange
	for _, e := range r.exchanges {
		if (e.repeat || e.used == 0) && e.matches(req, body) {
			hit = e
			e.used++
			break
		}
	}
	if hit == nil {
		what := req.Method + " " + req.URL.String()
		if !slicesContains(r.unmatched, what) {
			r.unmatched = append(r.unmatched, what)
			r.closest = append(r.closest, closest(r.exchanges, req, body))
		}
	}
	r.mu.Unlock()
	if hit == nil {
		return nil, errNoExchange
	}
	if hit.err != "" {
		return nil, errors.New(hit.err)
	}
	resp := &http.Response{
		Status:        strconv.Itoa(hit.status) + " " + http.StatusText(hit.status),
		StatusCode:    hit.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hit.respHdr.Clone(),
		Body:          io.NopCloser(bytes.NewReader(hit.respBody)),
		ContentLength: int64(len(hit.respBody)),
		Request:       req,
	}
	return resp, nil
}

// problems lists the requests no exchange served and the exchanges no
// request used.
func (r *replayer) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, u := range r.unmatched {
		line := "unmatched HTTP request: " + u
		if r.closest[i] != "" {
			line += "\n  " + r.closest[i]
		}
		out = append(out, line)
	}
	var unused []string
	for _, e := range r.exchanges {
		if e.used == 0 && !e.repeat {
			unused = append(unused, "recorded exchange never requested: "+e.describe())
		}
	}
	return append(out, unused...)
}
