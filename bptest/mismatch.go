package bptest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/bprun/bp/engine"
)

// A request that no exchange matches is reported with the exchange that
// came closest and how it differs (method, url, a header, the body's
// fields), so that a case fails with the reason, not only the request.

// maxDiffs bounds the differences said of one near miss.
const maxDiffs = 5

// nearMiss compares a request with an exchange: how many of its parts
// agree, and what differs.
func (e *exchange) nearMiss(req *http.Request, body []byte) (score int, diffs []string) {
	if e.method == "*" || e.method == req.Method {
		score += 2
	} else {
		diffs = append(diffs, fmt.Sprintf("method: recorded %s, sent %s", e.method, req.Method))
	}
	sent := req.URL.String()
	switch {
	case e.pattern != nil && e.pattern.MatchString(sent), e.pattern == nil && e.url == normalizeURL(sent):
		score += 3
	case e.pattern != nil:
		diffs = append(diffs, "url: does not match the recorded urlPattern")
	default:
		s, d := urlDiff(e.url, normalizeURL(sent))
		score += s
		diffs = append(diffs, d...)
	}
	names := make([]string, 0, len(e.headers))
	for k := range e.headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		got := req.Header.Values(k)
		switch {
		case slicesContains(got, e.headers[k]):
			score++
		case len(got) == 0:
			diffs = append(diffs, fmt.Sprintf("header %s: recorded %s, not sent", k, quoteShort(e.headers[k])))
		default:
			diffs = append(diffs, fmt.Sprintf("header %s: recorded %s, sent %s", k, quoteShort(e.headers[k]), quoteShort(strings.Join(got, ", "))))
		}
	}
	if e.hasBody {
		d := e.bodyDiff(body)
		if len(d) == 0 {
			score++
		}
		diffs = append(diffs, d...)
	}
	return score, diffs
}

// urlDiff compares two normalized urls: scheme, host and path first, then
// each query parameter.
func urlDiff(recorded, sent string) (score int, diffs []string) {
	ru, err1 := url.Parse(recorded)
	su, err2 := url.Parse(sent)
	if err1 != nil || err2 != nil {
		return 0, []string{"url: recorded " + recorded}
	}
	if ru.Scheme != su.Scheme || ru.Host != su.Host || ru.Path != su.Path {
		return 0, []string{"url: recorded " + recorded}
	}
	score = 2
	rq, sq := ru.Query(), su.Query()
	for _, k := range unionKeys(rq, sq) {
		r, s := rq[k], sq[k]
		switch {
		case reflect.DeepEqual(r, s):
		case s == nil:
			diffs = append(diffs, fmt.Sprintf("query %s: recorded %s, not sent", k, quoteShort(strings.Join(r, ","))))
		case r == nil:
			diffs = append(diffs, fmt.Sprintf("query %s: sent %s, not recorded", k, quoteShort(strings.Join(s, ","))))
		default:
			diffs = append(diffs, fmt.Sprintf("query %s: recorded %s, sent %s", k, quoteShort(strings.Join(r, ",")), quoteShort(strings.Join(s, ","))))
		}
	}
	return score, diffs
}

func unionKeys(a, b url.Values) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []url.Values{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// bodyDiff says how a sent body differs from the recorded one: the fields
// of a JSON body, else the text around the first difference.
func (e *exchange) bodyDiff(body []byte) []string {
	if !e.jsonBody {
		want := e.body.(string)
		if string(body) == want {
			return nil
		}
		return []string{"body: " + textDiff(want, string(body))}
	}
	got, err := engine.DecodeJSON(body)
	if err != nil {
		return []string{"body: recorded JSON, sent " + quoteShort(string(body))}
	}
	var diffs []string
	jsonDiff("", e.body, got, &diffs)
	return diffs
}

// jsonDiff appends the differences between two JSON values, by path.
func jsonDiff(path string, want, got any, diffs *[]string) {
	if len(*diffs) > maxDiffs || reflect.DeepEqual(want, got) {
		return
	}
	name := path
	if name == "" {
		name = "(the whole body)"
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				*diffs = append(*diffs, fmt.Sprintf("body field %s: recorded %s, not sent", p, jsonShort(wv)))
			case !inW:
				*diffs = append(*diffs, fmt.Sprintf("body field %s: sent %s, not recorded", p, jsonShort(gv)))
			default:
				jsonDiff(p, wv, gv, diffs)
			}
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		if len(w) != len(g) {
			*diffs = append(*diffs, fmt.Sprintf("body field %s: recorded %d items, sent %d", name, len(w), len(g)))
			return
		}
		for i := range w {
			jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], diffs)
		}
		return
	}
	*diffs = append(*diffs, fmt.Sprintf("body field %s: recorded %s, sent %s", name, jsonShort(want), jsonShort(got)))
}

// textDiff shows two texts around their first difference.
func textDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	const around = 24
	cut := func(s string) string {
		from, to := max(0, i-around), min(len(s), i+around)
		out := s[from:to]
		if from > 0 {
			out = "…" + out
		}
		if to < len(s) {
			out += "…"
		}
		return fmt.Sprintf("%q", out)
	}
	return fmt.Sprintf("differs at byte %d: recorded %s, sent %s", i, cut(want), cut(got))
}

func quoteShort(s string) string {
	const limit = 60
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func jsonShort(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 60
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

// closest is the exchange a request came closest to, among those not used
// up (else among all), and how it differs; "" with no exchanges.
func closest(exchanges []*exchange, req *http.Request, body []byte) string {
	var best *exchange
	bestScore, bestDiffs := -1, []string(nil)
	for _, avail := range []bool{true, false} {
		for _, e := range exchanges {
			if avail != (e.repeat || e.used == 0) {
				continue
			}
			if s, d := e.nearMiss(req, body); s > bestScore {
				best, bestScore, bestDiffs = e, s, d
			}
		}
		if best != nil {
			break
		}
	}
	if best == nil {
		return ""
	}
	used := ""
	if !best.repeat && best.used > 0 {
		used = " (already used)"
	}
	if len(bestDiffs) == 0 {
		bestDiffs = []string{"it matches, and was used up: record it once more, or give it repeat: true"}
	}
	if len(bestDiffs) > maxDiffs {
		bestDiffs = append(bestDiffs[:maxDiffs], "…")
	}
	return fmt.Sprintf("closest: %s%s: %s", best.describe(), used, strings.Join(bestDiffs, "; "))
}
