package engine

import (
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// exprEval is an expr-lang program compiled once, at load. The names it
// reads are found at compile time, so each evaluation resolves only those,
// by the same rules as a plain path, into a small environment.
type exprEval struct {
	src     string
	shown   string // how errors name it when src is not what the user wrote
	program *vm.Program
	names   []string // free identifiers, resolved through the scope
	secrets []string // vault.NAME references, in order
}

// envPool reuses the small maps expressions are evaluated over.
var envPool = sync.Pool{New: func() any { return make(map[string]any, 8) }}

// vmPool reuses expr-lang VMs: a VM keeps its stack between runs.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

func compileExpr(src string, opts compileOptions) (*exprEval, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	a := &exprAnalysis{vaultOK: map[*ast.IdentifierNode]bool{}, bound: map[string]bool{}, names: map[string]bool{}, callees: map[*ast.IdentifierNode]bool{}}
	ast.Walk(&tree.Node, a)
	if a.err != nil {
		return nil, a.err
	}
	if len(a.secrets) > 0 {
		if _, err := secretFlow(tree.Node); err != nil {
			return nil, err
		}
	}
	e := &exprEval{src: src}
	for _, id := range a.idents {
		switch {
		case id.Value == "vault":
			if !a.vaultOK[id] {
				return nil, errVaultUse
			}
		case a.callees[id] || a.bound[id.Value]:
		case id.Value[0] == '$':
			if id.Value == "$env" {
				return nil, fmt.Errorf("$env is not readable in templates")
			}
			if !opts.env[id.Value[1:]] {
				return nil, fmt.Errorf("environment variables are not readable in templates; list %s under env: in the blueprint to allow it", id.Value[1:])
			}
			a.names[id.Value] = true
		default:
			a.names[id.Value] = true
		}
	}
	for n := range a.names {
		e.names = append(e.names, n)
	}
	sort.Strings(e.names)
	e.secrets = a.secrets
	patch := memberPatcher{loose: opts.loose, bound: a.bound}
	program, err := expr.Compile(src, expr.AllowUndefinedVariables(), expr.Patch(patch), getStrict, getLoose, urlQuery, urlPath)
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	e.program = program
	return e, nil
}

// memberPatcher rewrites member access (a.b, a[0]) into a call of our own
// getter. expr-lang's generic member access goes through reflection and
// allocates; the getter indexes JSON-like values directly, and reports a
// missing key the way a plain path does instead of giving nil.
// Free identifiers become __get($env, "name") for the same reason: the
// environment is a map[string]any that the getter reads directly.
type memberPatcher struct {
	loose bool
	bound map[string]bool
}

func (p memberPatcher) getter() string {
	if p.loose {
		return "__getl"
	}
	return "__get"
}

func (p memberPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		if n.Method || n.Optional {
			return
		}
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: p.getter()}, Arguments: []ast.Node{n.Node, n.Property}})
	case *ast.CallNode:
		// Walk visits children first, so a callee name has already been
		// rewritten as a variable: make it a name again.
		if get, ok := n.Callee.(*ast.CallNode); ok && len(get.Arguments) == 2 {
			if env, ok := get.Arguments[0].(*ast.IdentifierNode); ok && env.Value == "$env" {
				if name, ok := get.Arguments[1].(*ast.StringNode); ok {
					n.Callee = &ast.IdentifierNode{Value: name.Value}
				}
			}
		}
	case *ast.IdentifierNode:
		name := n.Value
		switch {
		case name[0] == '$' || p.bound[name]:
		default:
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__get"}, Arguments: []ast.Node{&ast.IdentifierNode{Value: "$env"}, &ast.StringNode{Value: name}}})
		}
	}
}

var (
	getStrict = expr.Function("__get", func(args ...any) (any, error) { return getMember(args[0], args[1], false) })
	getLoose  = expr.Function("__getl", func(args ...any) (any, error) { return getMember(args[0], args[1], true) })
)

// URL escaping, which expr-lang lacks and URLs built from payloads need.
var (
	urlQuery = expr.Function("urlQuery", func(args ...any) (any, error) { return url.QueryEscape(textOf(args[0])), nil }, new(func(any) string))
	urlPath  = expr.Function("urlPath", func(args ...any) (any, error) { return url.PathEscape(textOf(args[0])), nil }, new(func(any) string))
)

// getMember indexes a value: maps by key, lists by position (negative
// counts from the end, as in expr-lang).
func getMember(from, key any, loose bool) (any, error) {
	switch t := from.(type) {
	case map[string]any:
		if k, ok := key.(string); ok {
			if v, ok := t[k]; ok {
				return v, nil
			}
			if loose {
				return nil, nil
			}
			return nil, fmt.Errorf("no key %q", k)
		}
	case []any:
		i, ok := intIndex(key)
		if ok && i < 0 {
			i += len(t)
		}
		if ok && i >= 0 && i < len(t) {
			return t[i], nil
		}
		if loose {
			return nil, nil
		}
		return nil, fmt.Errorf("index %v out of range (the list has %d items)", key, len(t))
	case nil:
		if loose {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot read %v of null", key)
	}
	if v, ok := index(from, keyString(key)); ok {
		return v, nil
	}
	if loose {
		return nil, nil
	}
	return nil, fmt.Errorf("cannot read %v of %T", key, from)
}

func intIndex(k any) (int, bool) {
	switch t := k.(type) {
	case int:
		return t, true
	case float64:
		if t == float64(int(t)) {
			return int(t), true
		}
	case int64:
		return int(t), true
	}
	return 0, false
}

// exprAnalysis collects what an expression reads, and checks that vault is
// only read as vault.NAME or vault["NAME"].
type exprAnalysis struct {
	idents  []*ast.IdentifierNode
	vaultOK map[*ast.IdentifierNode]bool
	callees map[*ast.IdentifierNode]bool
	bound   map[string]bool // let-bound names
	names   map[string]bool
	secrets []string
	err     error
}

func (a *exprAnalysis) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		a.idents = append(a.idents, n)
	case *ast.MemberNode:
		id, ok := n.Node.(*ast.IdentifierNode)
		if !ok || id.Value != "vault" {
			return
		}
		name, ok := n.Property.(*ast.StringNode)
		if !ok || n.Method {
			a.setErr(errVaultUse)
			return
		}
		if !validSecretName(name.Value) {
			a.setErr(fmt.Errorf("%q is not a valid secret name", name.Value))
			return
		}
		a.vaultOK[id] = true
		a.secrets = append(a.secrets, name.Value)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			a.callees[id] = true
		}
	case *ast.VariableDeclaratorNode:
		a.bound[n.Name] = true
	}
}

// secretFlow checks what an expression does with the secrets it reads, and
// reports whether n's value holds one. A secret may be the whole value,
// joined with + or chosen by ?:, encoded by toBase64, toJSON, urlQuery or
// urlPath (forms the scrubber knows), or compared (==, !=, startsWith,
// endsWith, contains, len). Anything else (lower(), a slice, split) would
// make a form of it that the scrubber cannot recognise, so it is refused.
func secretFlow(n ast.Node) (bool, error) {
	switch t := n.(type) {
	case *ast.MemberNode:
		if id, ok := t.Node.(*ast.IdentifierNode); ok && id.Value == "vault" {
			return true, nil
		}
	case *ast.ChainNode:
		return secretFlow(t.Node)
	case *ast.BinaryNode:
		l, err := secretFlow(t.Left)
		if err != nil {
			return false, err
		}
		r, err := secretFlow(t.Right)
		if err != nil {
			return false, err
		}
		switch t.Operator {
		case "+":
			return l || r, nil
		case "==", "!=", "startsWith", "endsWith", "contains":
			return false, nil
		}
		if l || r {
			return false, errSecretUse("operator " + t.Operator)
		}
		return false, nil
	case *ast.ConditionalNode:
		if c, err := secretFlow(t.Cond); err != nil || c {
			return false, firstErr(err, errSecretUse("a condition"))
		}
		a, err := secretFlow(t.Exp1)
		if err != nil {
			return false, err
		}
		b, err := secretFlow(t.Exp2)
		return a || b, err
	case *ast.BuiltinNode:
		return argsFlow(t.Name, t.Arguments, map[string]bool{"toBase64": true, "toJSON": true, "string": true}, map[string]bool{"len": true})
	case *ast.CallNode:
		if id, ok := t.Callee.(*ast.IdentifierNode); ok {
			return argsFlow(id.Value, t.Arguments, map[string]bool{"urlQuery": true, "urlPath": true}, nil)
		}
	}
	if readsVault(n) {
		return false, errSecretUse("this expression")
	}
	return false, nil
}

// argsFlow checks a function's arguments: encoders pass a secret on,
// measures (len) do not, and other functions may not get one.
func argsFlow(name string, args []ast.Node, encoders, measures map[string]bool) (bool, error) {
	carries := false
	for _, arg := range args {
		c, err := secretFlow(arg)
		if err != nil {
			return false, err
		}
		carries = carries || c
	}
	switch {
	case !carries:
		return false, nil
	case encoders[name]:
		return true, nil
	case measures[name]:
		return false, nil
	}
	return false, errSecretUse(name + "()")
}

func readsVault(n ast.Node) bool {
	found := false
	ast.Walk(&n, visitorFunc(func(node *ast.Node) {
		if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == "vault" {
			found = true
		}
	}))
	return found
}

type visitorFunc func(*ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }

func errSecretUse(where string) error {
	return fmt.Errorf("a secret cannot go through %s: use it whole, join it with +, encode it with toBase64, toJSON, urlQuery or urlPath, or compare it", where)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (a *exprAnalysis) setErr(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (e *exprEval) eval(s *scope) (any, error) {
	env := envPool.Get().(map[string]any)
	defer func() { clear(env); envPool.Put(env) }()
	for _, name := range e.names {
		v, ok := s.lookupBound(name)
		if !ok {
			if _, err := s.missing(e.src, fmt.Sprintf("no name %q", name)); err != nil {
				return nil, err
			}
		}
		env[name] = v
	}
	if len(e.secrets) > 0 {
		secrets := make(map[string]any, len(e.secrets))
		for _, name := range e.secrets {
			v, err := s.secret(name)
			if err != nil {
				return nil, err
			}
			secrets[name] = v
		}
		env["vault"] = secrets
	}
	machine := vmPool.Get().(*vm.VM)
	out, err := machine.Run(e.program, env)
	vmPool.Put(machine)
	if err != nil {
		if e.shown != "" {
			return nil, fmt.Errorf("%s: %s", e.shown, firstLine(err.Error()))
		}
		return nil, fmt.Errorf("@{%s}: %s", e.src, firstLine(err.Error()))
	}
	return normalizeNumber(out), nil
}

// normalizeNumber makes expr-lang's Go values JSON-like, so that the same
// value compares and prints the same whichever way it was computed: its
// numbers float64, its typed lists and maps (1..3 is a []int) []any and
// map[string]any, at any depth.
func normalizeNumber(v any) any {
	switch t := v.(type) {
	case nil, string, bool, float64:
		return v
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case int32:
		return float64(t)
	case float32:
		return float64(t)
	case uint:
		return float64(t)
	case uint64:
		return float64(t)
	case []any:
		var out []any
		for i, x := range t {
			if n := normalizeNumber(x); out != nil || !sameScalar(n, x) {
				if out == nil {
					out = append([]any(nil), t...)
				}
				out[i] = n
			}
		}
		if out == nil {
			return t
		}
		return out
	case map[string]any:
		var out map[string]any
		for k, x := range t {
			if n := normalizeNumber(x); out != nil || !sameScalar(n, x) {
				if out == nil {
					out = make(map[string]any, len(t))
					for k2, x2 := range t {
						out[k2] = x2
					}
				}
				out[k] = n
			}
		}
		if out == nil {
			return t
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			return v // bytes stay bytes
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalizeNumber(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v
		}
		out := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			out[it.Key().String()] = normalizeNumber(it.Value().Interface())
		}
		return out
	}
	return v
}

// sameScalar reports whether normalizeNumber surely left x as it was.
func sameScalar(n, x any) bool {
	switch x.(type) {
	case nil, string, bool, float64:
		return true
	}
	return false
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// templatedExpr is an expression field that holds @{...} templates
// (`@{payload.city} == "Paris"`). Each template becomes a variable of the
// expression, bound to the template's value at run time, so the field
// compiles once, and no value can change the expression's meaning.
type templatedExpr struct {
	expr  *exprEval
	parts []part // the templates, in order: variable __tN is parts[N]
}

func compileTemplatedExpr(src string, opts compileOptions) (*templatedExpr, error) {
	tmpl, err := parseTemplate(src, opts)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	t := &templatedExpr{}
	quote := byte(0) // the quote of the string literal the text is in, if any
	for _, p := range tmpl.parts {
		if p.ev == nil {
			b.WriteString(p.lit)
			quote = quoteState(p.lit, quote)
			continue
		}
		if quote != 0 {
			// A template inside a string literal ("Hi @{name}") joins the
			// literal as text: close it, concatenate, open it again.
			fmt.Fprintf(&b, "%c + string(__t%d) + %c", quote, len(t.parts), quote)
		} else {
			fmt.Fprintf(&b, " __t%d ", len(t.parts))
		}
		t.parts = append(t.parts, p)
	}
	e, err := compileExpr(b.String(), opts)
	if err != nil {
		return nil, &TemplateError{Line: 1, Column: 1, Message: err.Error()}
	}
	// Errors quote what the user wrote, not the variables bound in it.
	e.shown = strconv.Quote(src)
	t.expr = e
	return t, nil
}

// quoteState follows expr-lang's string literals through text: it
// returns the quote still open at the end of s, starting inside quote.
func quoteState(s string, quote byte) byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == '"' || c == '\'' || c == '`'):
			quote = c
		case quote != 0 && c == '\\' && quote != '`':
			i++
		case c == quote:
			quote = 0
		}
	}
	return quote
}

func (t *templatedExpr) eval(s *scope) (any, error) {
	values := make([]any, len(t.parts))
	for i, p := range t.parts {
		v, err := p.ev.eval(s)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	bound := &scope{c: s.c, field: s.field, bound: values}
	return t.expr.eval(bound)
}
