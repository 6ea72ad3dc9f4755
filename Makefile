# The two commands a newcomer needs: `make run` and `make test` (see README.md).
.PHONY: run test deps build typecheck lint format-check unit bench clean

deps:
	@scripts/ensure-deps.sh

build: deps
	npm run build

run: build
	scripts/run-local.sh

typecheck: deps
	npm run typecheck

lint: deps
	npm run lint

format-check: deps
	npm run format:check

test: build typecheck lint format-check
	PATH="$$PATH:/usr/sbin" npm test

clean:
	rm -rf dist coverage
