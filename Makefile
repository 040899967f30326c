# bk — backup and recovery for the raffle bot.
# Every tools/<name>.c is one binary in bin/; lib/*.c is shared by all.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/bk
VERSION := 0.1.0

CC      ?= cc
CFLAGS  ?= -O2 -g
BK_CFLAGS = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -DBK_VERSION='"$(VERSION)"' \
            -I/usr/include/postgresql -Ilib
LDLIBS  = -lpq -lhiredis -lcjson -lcurl -lcrypto -lpthread

BUILD   ?= build
BIN     ?= bin

LIB_SRC   := $(wildcard lib/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
UNIT_SRC  := $(wildcard tests/unit/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOLS     := $(TOOL_SRC:tools/%.c=$(BIN)/%)
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
MANPAGES  := $(wildcard man/*.1 man/*.7)
SCRIPTS   := $(wildcard scripts/bk-*)
SHELL_SCRIPTS := $(SCRIPTS) $(wildcard scripts/*.sh tests/*.bash tests/bench/*.sh) .ci/run

all: $(TOOLS)

$(BUILD)/%.o: %.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BK_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libbk.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN)/%: $(BUILD)/tools/%.o $(BUILD)/libbk.a
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libbk.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "unit: $$t"; $$t; done

# The bats suite runs against real PostgreSQL and Redis servers it starts.
bats: all
	BK_BIN_DIR=$(CURDIR)/$(BIN) bats --print-output-on-failure tests/

# Same suite, binaries built with AddressSanitizer + UndefinedBehaviorSanitizer.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
check-asan:
	$(MAKE) BUILD=build-asan BIN=bin-asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" unit all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  BK_BIN_DIR=$(CURDIR)/bin-asan bats --print-output-on-failure tests/

# Man pages lint-clean, shell scripts shellcheck-clean.
lint:
	mandoc -Tlint -W warning $(MANPAGES)
	shellcheck -e SC1091 $(SHELL_SCRIPTS)

check: all unit bats lint check-asan

# A newcomer's first command: packages, build, throwaway servers, a backup.
demo:
	./scripts/install-deps.sh
	$(MAKE) all
	./scripts/demo.sh

bench: all
	./tests/bench/bench.sh $(BENCH_SCALE)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SHAREDIR)
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for s in $(SCRIPTS); do install -m 0755 $$s $(DESTDIR)$(BINDIR)/; done
	for m in $(MANPAGES); do case $$m in *.7) install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/;; *) install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/;; esac; done
	install -m 0644 tests/fixtures/schema.sql $(DESTDIR)$(SHAREDIR)/schema.sql

clean:
	rm -rf build build-asan bin bin-asan

.PHONY: all unit bats check check-asan lint demo bench install clean
.SECONDARY:
