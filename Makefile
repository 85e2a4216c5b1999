# The two commands a new user needs: `make run` (server with demo data) and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test generate build lint fuzz

run:
	$(GO) run . serve

test:
	$(GO) test -race -count=1 -p 2 ./...

generate:
	flock /tmp/residents-gqlgen.lock $(GO) run github.com/99designs/gqlgen generate

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/residents .

lint:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
