# denorm: PGXS build.  `make && make install`, then `make installcheck`
# against a running server (see README.md for the full test command).

EXTENSION = denorm
MODULE_big = denorm
OBJS = src/denorm.o src/registry.o src/filter.o src/apply.o src/trigger.o src/overflow.o \
       src/owner.o src/recompute.o src/reconcile.o src/pending.o src/parent.o \
       src/extension.o src/keylock.o src/rename.o src/dropped.o src/reads.o \
       src/copy.o src/copy_registry.o src/citus.o
# sql/denorm.sql is the install script of the current version, the one
# file to edit; make builds sql/denorm--$(EXTVERSION).sql from it (not kept
# in git).  Beside it, the frozen scripts: the 1.0 install script, where
# upgrades start, and the upgrade scripts denorm--A--B.sql.  A fresh
# CREATE EXTENSION runs the built script; test/upgrade/upgrade.sh checks
# that the chain of scripts installs the same objects.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
DATA = sql/denorm--1.0.sql $(wildcard sql/denorm--*--*.sql)
DATA_built = sql/denorm--$(EXTVERSION).sql

REGRESS = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=denorm
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=. --load-extension=denorm

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
            -Wno-sign-compare -Wno-cast-function-type
ifdef DENORM_WERROR
PG_CFLAGS += -Werror
endif

# The PostgreSQL to build for is the one whose pg_config is given, by
# default the pg_config on PATH (PGXS's convention, which packagers rely
# on): `make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config install`.  On
# Debian /usr/bin/pg_config runs the newest installed server's, so the
# scripts under tools/, test/ and bench/ name PostgreSQL 15's explicitly.
PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object is rebuilt when a shared header changes
$(OBJS): $(wildcard src/*.h)

sql/denorm--$(EXTVERSION).sql: sql/denorm.sql
	cp $< $@

# Tests by layer, against the running server (PGHOST, PGPORT, PGUSER as
# for psql) with this build installed:
#   make installcheck            pg_regress files and isolation specs
#   make installcheck ISOLATION= pg_regress only (REGRESS=name for one file)
#   make prove                   pgTAP files, in a scratch database PROVE_DB
#                                made afresh with pgtap and denorm
# (make installcheck-pgtap is the same as make prove.)
PROVE_DB ?= denorm_tap
PROVE_FLAGS ?=
prove:
	$(bindir)/psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS $(PROVE_DB)' -c 'CREATE DATABASE $(PROVE_DB)'
	$(bindir)/psql -X -q -d $(PROVE_DB) -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION denorm'
	pg_prove --psql-bin $(bindir)/psql $(PROVE_FLAGS) -d $(PROVE_DB) test/pgtap/*.sql
installcheck-pgtap: prove
.PHONY: prove installcheck-pgtap
