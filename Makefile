# The two commands a new user needs: `make run` (server with demo data) and `make test`.
# Both first run scripts/deps: it installs and starts PostgreSQL and Redis when
# they are missing or stopped (README: "What the two commands do to the machine").
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test deps generate build lint fuzz fuzz-all loadgen schema

run: deps
	$(GO) run . serve

test: deps
	$(GO) test -race -count=1 -p 2 ./...

deps:
	@./scripts/deps

# Each fuzz target runs a bounded number of inputs: a count, not a duration,
# because `-fuzztime 5s` sometimes ends in "context deadline exceeded" from
# the fuzz coordinator itself. `make fuzz` (CI: 50,000 inputs each; at
# 100,000 the 17 targets' runs took 105 s in all on a slow machine) covers
# the pure parsers and decoders and the request decoder; `make fuzz-all`
# adds the other targets whose packages need the database (slower to build).
FUZZTIME ?= 50000x
FUZZ_TARGETS = \
	./internal/idnumber:FuzzParse \
	./internal/idnumber:FuzzUpgrade \
	./internal/sheet:FuzzRead \
	./internal/sheet:FuzzDate \
	./internal/creditcode:FuzzParse \
	./internal/pii:FuzzNormalizePhone \
	./internal/civil:FuzzParseDate \
	./internal/workday:FuzzAddWorkdays \
	./graph/relay:FuzzParse \
	./internal/page:FuzzDecodeCursor \
	./internal/policy:FuzzLikePrefix \
	./graph/scalar:FuzzUnmarshalFen \
	./internal/homecare:FuzzValidPIN \
	./internal/homecare:FuzzValidateItem \
	./internal/proxy:FuzzNormalizeCode \
	./internal/problem:FuzzParseAcceptLanguage
# The request decoder goes through the whole HTTP handler (and needs the
# database): fewer inputs, same bound in CI.
FUZZTIME_REQUEST ?= 20000x
FUZZ_TARGETS_DB = \
	./internal/disability:FuzzParseNumber \
	./internal/resident:FuzzAddressTerms \
	./internal/wechat:FuzzDecodeSession \
	./internal/voucher:FuzzProgramValidate \
	./internal/emergency:FuzzNext \
	./internal/application:FuzzValidateItem \
	./internal/application:FuzzCleanMaterials \
	./internal/application:FuzzSupplements \
	./internal/notify:FuzzParseTemplates \
	./internal/resident:FuzzReadRow

define run_fuzz
	@set -e; for t in $(1); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(2) -parallel 1 $$pkg; done
endef

fuzz:
	$(call run_fuzz,$(FUZZ_TARGETS),$(FUZZTIME))
	$(call run_fuzz,./internal/app:FuzzGraphQLRequest,$(FUZZTIME_REQUEST))

fuzz-all: fuzz
	$(call run_fuzz,$(FUZZ_TARGETS_DB),$(FUZZTIME))

# migrations/schema.sql, the current schema in one file, from a freshly
# migrated database (TestSchemaSQL fails while it is stale).
schema:
	$(GO) test -count=1 ./migrations -run '^TestSchemaSQL$$' -update

generate:
	flock /tmp/residents-gqlgen.lock $(GO) run ./cmd/gqlgen

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/residents .

lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
