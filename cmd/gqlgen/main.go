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
package main

import (
	"log"

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

func main() {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		log.Fatal(err)
	}
	if err := api.Generate(cfg, api.AddPlugin(sequentialFields{})); err != nil {
		log.Fatal(err)
	}
}
