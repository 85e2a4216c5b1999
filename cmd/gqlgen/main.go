// Command gqlgen generates graph/ from graph/schema with gqlgen's own
// generator plus one setting gqlgen.yml cannot express: the object types
// in sequential resolve their fields one after another in the goroutine
// that marshals the object, instead of one goroutine per resolver field.
//
// Why: a residents page resolves about seven resolver fields per resident
// (id, age, community, contacts, vouchers, balance, certificate), all
// answered from batches the page resolver has already loaded. One
// goroutine each, and the stack growth of each, was a quarter of the
// server's CPU per page (docs/PERFORMANCE.md). The price: fields that
// wait on a dataloader batch wait one after another, so a resolver
// returning a single Resident prefetches its batches first
// (graph.prefetchResidents), as the page does.
//
// It also fails generation when a Go type bound to a GraphQL enum has a
// constant that gqlgen.yml's enum_values does not bind (boundEnums):
// gqlgen itself only fails when a schema value has no Go constant.
package main

import (
	"fmt"
	"go/types"
	"log"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// sequential are the object types whose fields resolve in order.
var sequential = map[string]bool{"Resident": true}

type sequentialFields struct{}

func (sequentialFields) Name() string { return "sequential-fields" }

// GenerateCode runs after gqlgen built its model of the schema and before
// it renders the executable schema.
func (sequentialFields) GenerateCode(d *codegen.Data) error {
	for _, o := range d.Objects {
		if sequential[o.Name] {
			o.DisableConcurrency = true
		}
	}
	return nil
}

// boundEnums checks the other direction of the enum binding.
type boundEnums struct{}

func (boundEnums) Name() string { return "bound-enums" }

// GenerateCode fails when a constant of a Go type bound to an enum is not
// bound to one of the enum's values: the Go side gained a value the schema
// lacks, and it would be written to clients as an empty string.
func (boundEnums) GenerateCode(d *codegen.Data) error {
	var unbound []string
	for name, m := range d.Config.Models {
		if len(m.EnumValues) == 0 || len(m.Model) != 1 {
			continue
		}
		bound := map[string]bool{}
		for _, v := range m.EnumValues {
			bound[v.Value] = true
		}
		dot := strings.LastIndex(m.Model[0], ".")
		path, typeName := m.Model[0][:dot], m.Model[0][dot+1:]
		p := d.Config.Packages.Load(path)
		if p == nil || p.Types == nil {
			return fmt.Errorf("enum %s: cannot load %s", name, path)
		}
		t := p.Types.Scope().Lookup(typeName)
		if t == nil {
			return fmt.Errorf("enum %s: no type %s", name, m.Model[0])
		}
		// A constant is covered when it has the value of a bound one: itself,
		// or the one it aliases (voucher.IssuedStatus = Active).
		boundValues := map[string]bool{}
		var consts []*types.Const
		for _, n := range p.Types.Scope().Names() {
			c, ok := p.Types.Scope().Lookup(n).(*types.Const)
			if !ok || !types.Identical(c.Type(), t.Type()) {
				continue
			}
			consts = append(consts, c)
			if bound[path+"."+n] {
				boundValues[c.Val().ExactString()] = true
			}
		}
		for _, c := range consts {
			if !boundValues[c.Val().ExactString()] {
				unbound = append(unbound, fmt.Sprintf("%s.%s (enum %s)", path, c.Name(), name))
			}
		}
	}
	if len(unbound) > 0 {
		sort.Strings(unbound)
		return fmt.Errorf("constants not bound in gqlgen.yml enum_values: %s", strings.Join(unbound, ", "))
	}
	return nil
}

func main() {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		log.Fatal(err)
	}
	if err := api.Generate(cfg, api.AddPlugin(sequentialFields{}), api.AddPlugin(boundEnums{})); err != nil {
		log.Fatal(err)
	}
}
