package blocks

import (
	"context"
	"fmt"
	"sort"

	"github.com/bprun/bp/engine"
)

// ForEach runs its loop branch once per item of a list or an object, with
// @{item} and @{itemId} (and @{<prefix>_item}, @{<prefix>_itemId}). Its
// result is the list (or object) of each iteration's return value.
type ForEach struct{}

var forEachSpec = &engine.TypeSpec{
	Name: "foreach", Doc: "Runs the loop branch once per item.",
	Fields: []engine.FieldSpec{
		{Name: "items", Kind: engine.FieldJSON, Type: engine.TypeList | engine.TypeObject, Required: true, Doc: "a list or an object"},
		{Name: "prefix", Kind: engine.FieldRaw, Type: engine.TypeString, Doc: "names @{<prefix>_item} for nested loops"},
		{Name: "parallel", Kind: engine.FieldText, Type: engine.TypeString | engine.TypeNumber, Doc: "iterations at once (default 1)", Check: engine.CheckInt},
	},
	Outcomes: []string{"loop", "success", "error"},
	Loop:     "loop",
}

func (ForEach) Spec() *engine.TypeSpec { return forEachSpec }

func (ForEach) Run(ctx context.Context, c *engine.Call) engine.Result {
	v, err := c.JSON("items")
	if err != nil {
		return engine.Failure(err)
	}
	parallel, err := c.Int("parallel", 1)
	if err != nil {
		return engine.Failure(err)
	}
	prefix, _ := c.Raw("prefix").(string)
	var items []engine.LoopItem
	var keys []string
	switch t := v.(type) {
	case []any:
		for i, x := range t {
			items = append(items, engine.LoopItem{ID: float64(i), Item: x})
		}
	case map[string]any:
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			items = append(items, engine.LoopItem{ID: k, Item: t[k]})
		}
	case nil:
	default:
		return engine.Failure(fmt.Errorf("field items: %T is neither a list nor an object", v))
	}
	results, err := c.Loop(ctx, prefix, items, parallel)
	if err != nil {
		return engine.Failure(err)
	}
	if keys != nil {
		out := make(map[string]any, len(keys))
		for i, k := range keys {
			out[k] = results[i]
		}
		return engine.Success(out)
	}
	if results == nil {
		results = []any{}
	}
	return engine.Success(results)
}
