# The two commands a newcomer runs: `make demo` (the main job against a local lab) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
SCENARIO ?= pgbackrest

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

test:  ## every check: sanity, lint, unit tests, every Molecule scenario; ends with "N passed, N failed"
	bash tests/run.sh

unit:  ## unit tests only
	bash tests/run.sh unit

lint:  ## ansible-lint (production profile) and ansible-test sanity on ansible-core 2.19 and 2.21
	bash tests/run.sh lint sanity

molecule:  ## one scenario: make molecule SCENARIO=pgbackrest
	bash tests/run.sh molecule:$(SCENARIO)

lab:  ## build the lab's images and tools (cached)
	bash tests/run.sh --lab-only

demo:  ## bring up the lab and run playbooks/site.yml against it
	bash lab/demo.sh up

demo-clean:  ## remove the demo lab
	bash lab/demo.sh down

.PHONY: help test unit lint molecule lab demo demo-clean
