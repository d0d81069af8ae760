# denorm: PGXS build.  `make && make install`, then `make installcheck`
# against a running server (see README.md for the full test command).

EXTENSION = denorm
MODULE_big = denorm
OBJS = src/denorm.o src/registry.o src/filter.o src/apply.o src/trigger.o \
       src/owner.o src/recompute.o src/reconcile.o src/pending.o src/parent.o \
       src/extension.o
DATA = $(wildcard sql/denorm--*.sql)

REGRESS = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=denorm
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=. --load-extension=denorm

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
            -Wno-sign-compare -Wno-cast-function-type
ifdef DENORM_WERROR
PG_CFLAGS += -Werror
endif

# Debian's /usr/bin/pg_config is a wrapper; prefer the server's own.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
