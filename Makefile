# The two commands a new user needs: `make run` (server with demo data) and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test generate build lint fuzz

run:
	$(GO) run . serve

test:
	$(GO) test -race -count=1 -p 2 ./...

# Each fuzz target runs for a bounded time (CI: 5 s each).
FUZZTIME ?= 5s
FUZZ_TARGETS = \
	./internal/idnumber:FuzzParse \
	./internal/creditcode:FuzzParse \
	./internal/pii:FuzzNormalizePhone \
	./internal/workday:FuzzParseDate \
	./graph/relay:FuzzParse \
	./internal/page:FuzzDecodeCursor \
	./graph/scalar:FuzzUnmarshalFen \
	./internal/app:FuzzGraphQLRequest

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn"; $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -parallel 1 $$pkg; done

generate:
	flock /tmp/residents-gqlgen.lock $(GO) run github.com/99designs/gqlgen generate

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/residents .

lint:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
