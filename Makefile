# bk — backup and recovery for the raffle bot.
# Every tools/<name>.c is one binary in bin/, linked with the modules only
# that tool uses (tools/<name>/*.c, when the folder exists) and libbk.a,
# built from lib/*.c: what two or more tools share.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SHAREDIR ?= $(PREFIX)/share/bk
VERSION := 0.1.0

CC      ?= cc
CFLAGS  ?= -O2 -g
BK_CFLAGS = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -DBK_VERSION='"$(VERSION)"' \
            -I/usr/include/postgresql -Ilib
LDLIBS  = -lpq -lhiredis -lcjson -lcurl -lcrypto -lexpat -lzstd -lz -lpthread

BUILD   ?= build
BIN     ?= bin

LIB_SRC   := $(wildcard lib/*.c)
TOOL_SRC  := $(wildcard tools/*.c)
MOD_SRC   := $(wildcard tools/*/*.c)
HDRS      := $(wildcard lib/*.h tools/*/*.h)
UNIT_SRC  := $(wildcard tests/unit/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_NAMES := $(TOOL_SRC:tools/%.c=%)
TOOLS     := $(TOOL_NAMES:%=$(BIN)/%)
UNITS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
MANPAGES  := $(wildcard man/*.1 man/*.5 man/*.7)
SCRIPTS   := $(wildcard scripts/bk-*)
SHELL_SCRIPTS := $(SCRIPTS) $(wildcard scripts/*.sh scripts/lib/*.sh tests/*.sh tests/*.bash tests/bench/*.sh) .ci/run

all: $(TOOLS)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BK_CFLAGS) $(CFLAGS) -c -o $@ $<

# Tests may reach into a tool's folder: #include "tg-relay/tgcmd.h".
# lib/ and tools/ may not (lib/ never includes a tool's header).
$(BUILD)/tests/%.o: BK_CFLAGS += -Itools

$(BUILD)/libbk.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# The objects of tools/<name>/, the modules only tool <name> uses.
tool_mods = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/$(1)/*.c))
tool_srcs = $(wildcard tools/$(1)/*.c)

# Objects before the archive, whatever order make gathered them in.
LINK = $(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter %.a,$^) $(LDLIBS)

# One rule per binary: tools/<name>.c + tools/<name>/*.c + libbk.a.
define tool_rule
$(BIN)/$(1): $(BUILD)/tools/$(1).o $(call tool_mods,$(1)) $(BUILD)/libbk.a
	@mkdir -p $(BIN)
	$$(LINK)
endef
$(foreach t,$(TOOL_NAMES),$(eval $(call tool_rule,$(t))))

# bk-drill restores in process with bk-restore's modules, linked in.
$(BIN)/bk-drill: $(call tool_mods,bk-restore)

# Unit tests of a tool's modules link them explicitly.
$(BUILD)/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libbk.a
	@mkdir -p $(dir $@)
	$(LINK)
$(BUILD)/unit/tg_test: $(call tool_mods,tg-relay)
$(BUILD)/unit/restore_test: $(call tool_mods,bk-restore)
$(BUILD)/unit/drill_test: $(call tool_mods,bk-drill) $(call tool_mods,bk-restore)
$(BUILD)/unit/keep_test: $(call tool_mods,bk-clean)

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "unit: $$t"; $$t; done

# The bats suite runs against real PostgreSQL and Redis servers it starts.
bats: all
	BK_BIN_DIR=$(CURDIR)/$(BIN) bats --print-output-on-failure tests/

# Same suite, binaries built with AddressSanitizer + UndefinedBehaviorSanitizer.
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_MAKE  = $(MAKE) BUILD=build-asan BIN=bin-asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)"
SAN_ENV   = BK_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
check-asan:
	$(SAN_MAKE) unit all
	$(SAN_ENV) BK_BIN_DIR=$(CURDIR)/bin-asan bats --print-output-on-failure tests/

# Races (tests/flaky.sh, README "Tests"): the tests tagged race (processes
# side by side, kills, locks, time limits; FLAKY_TAGS), FLAKY_ROUNDS times
# (default 20), plain and with the check-asan build, on a machine loaded by
# a build loop. Not in `check`.
check-flaky: all
	$(SAN_MAKE) all
	FLAKY_SAN_ENV="$(SAN_ENV)" ./tests/flaky.sh

# The threaded paths (the COPY reader, the writer/hash thread) under
# ThreadSanitizer: the dump and raffle tests with clang -fsanitize=thread.
TSAN_CC    ?= clang
TSAN_FLAGS  = -O1 -g -fsanitize=thread -fno-omit-frame-pointer
TSAN_BATS   = tests/copyrace.bats tests/dump.bats tests/raffle.bats tests/compress.bats
check-tsan:
	$(MAKE) BUILD=build-tsan BIN=bin-tsan CC=$(TSAN_CC) CFLAGS="$(TSAN_FLAGS)" LDFLAGS="$(TSAN_FLAGS)" unit all
	BK_SANITIZED=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  BK_BIN_DIR=$(CURDIR)/bin-tsan bats --print-output-on-failure $(TSAN_BATS)

# Fuzzing (tests/fuzz, README "Fuzzing"): one libFuzzer target per parser of
# outside input, built by clang with ASan+UBSan into build-fuzz/ (apart from
# $(BUILD), so a fuzz build never races a normal one). `make fuzz` runs each
# for FUZZ_SECONDS (make -j2 fuzz: two at a time); new inputs go to
# build-fuzz/corpus/<target>, crashes to build-fuzz/artifacts/.
# `make fuzz-replay` replays tests/fuzz/corpus (reproducers included) with a
# plain cc driver always, and under libFuzzer + sanitizers when clang can.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_NAMES   := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SAN      = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_HDR     := tests/fuzz/fuzz_util.h $(HDRS)
# Targets that fuzz a tool's modules compile that tool's folder in.
FUZZ_TOOL_fuzz_jsonr := bk-restore
FUZZ_TOOL_fuzz_tgcmd := tg-relay
fuzz_mods     = $(if $(FUZZ_TOOL_$(1)),$(call tool_srcs,$(FUZZ_TOOL_$(1))))

# Whether $(FUZZ_CC) can link a libFuzzer program (clang + libclang-rt).
fuzz_ok = printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' | \
	$(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null >/dev/null 2>&1

# The library, instrumented; a stamp, since build-fuzz/libbk.a itself is made
# by the sub-make's $(BUILD)/libbk.a rule.
build-fuzz/.lib-stamp: $(LIB_SRC) $(wildcard lib/*.h)
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	  CFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" build-fuzz/libbk.a
	touch $@

build-fuzz/fuzz/%: tests/fuzz/%.c build-fuzz/.lib-stamp $(FUZZ_HDR) $(MOD_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BK_CFLAGS) -Itools $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(call fuzz_mods,$*) \
	  build-fuzz/libbk.a $(LDLIBS)

$(BUILD)/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $(BUILD)/libbk.a $(FUZZ_HDR) $(MOD_SRC)
	@mkdir -p $(dir $@)
	$(CC) $(BK_CFLAGS) -Itools $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay.c $(call fuzz_mods,$*) \
	  $(BUILD)/libbk.a $(LDLIBS)

fuzz: $(FUZZ_NAMES:%=fuzz-run-%)

fuzz-run-%: build-fuzz/fuzz/%
	@mkdir -p build-fuzz/corpus/$* build-fuzz/artifacts
	$< -max_total_time=$(FUZZ_SECONDS) -timeout=10 -close_fd_mask=3 -print_final_stats=1 \
	  -artifact_prefix=build-fuzz/artifacts/$*- build-fuzz/corpus/$* tests/fuzz/corpus/$* \
	  >build-fuzz/$*.log 2>&1 || { tail -n 60 build-fuzz/$*.log; exit 1; }
	@echo "$*: $$(grep -E '^(Done|stat::(new_units_added|peak_rss_mb))' build-fuzz/$*.log | tr -s ' \n' ' ')"

fuzz-replay: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%-replay)
	@for t in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz/$$t-replay tests/fuzz/corpus/$$t 2>$(BUILD)/fuzz/$$t-replay.log || \
	    { tail -n 20 $(BUILD)/fuzz/$$t-replay.log; exit 1; }; \
	done
	@if $(fuzz_ok); then \
	  $(MAKE) --no-print-directory $(FUZZ_NAMES:%=build-fuzz/fuzz/%) && \
	  for t in $(FUZZ_NAMES); do \
	    log=build-fuzz/replay-$$t.log; \
	    build-fuzz/fuzz/$$t -runs=0 -artifact_prefix=build-fuzz/ tests/fuzz/corpus/$$t >$$log 2>&1 || { cat $$log; exit 1; }; \
	    echo "$$t (libFuzzer, ASan+UBSan): $$(grep -o "Done [0-9]* runs" $$log)"; \
	  done; \
	else echo "fuzz-replay: $(FUZZ_CC) cannot build libFuzzer programs: replayed with the plain driver only"; fi

# Valgrind (tests/valgrind.bats): every tool's main and error paths.
check-valgrind: all
	BK_VALGRIND=1 BK_BIN_DIR=$(CURDIR)/$(BIN) bats --print-output-on-failure tests/valgrind.bats

# Man pages lint-clean, shell scripts shellcheck-clean.
lint: format-check
	mandoc -Tlint -W warning $(MANPAGES)
	shellcheck -e SC1091 $(SHELL_SCRIPTS)

# The C sources against .clang-format (the one house style): lists the files
# that differ and exits 1 if any does. `make format` rewrites them.
C_SRC := $(wildcard lib/*.[ch] tools/*.c tools/*/*.[ch] tests/unit/*.c tests/fuzz/*.[ch])
format:
	clang-format -i --style=file $(C_SRC)

format-check:
	@bad=0; for f in $(C_SRC); do \
	  clang-format --style=file "$$f" | cmp -s "$$f" - || { echo "format-check: $$f"; bad=1; }; \
	done; exit $$bad

check: all unit bats lint check-asan check-tsan fuzz-replay check-valgrind

# A newcomer's first command: packages, build, throwaway servers, a backup
# (scripts/demo.sh installs the packages and builds, once).
demo:
	./scripts/demo.sh

bench: all
	./tests/bench/bench.sh $(BENCH_SCALE)

# bk-dump of the benchmark's database STRESS_ROUNDS times: every run whole.
STRESS_ROUNDS ?= 20
check-stress: all
	./tests/bench/stress.sh $(STRESS_ROUNDS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(SHAREDIR)
	install -m 0755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for s in $(SCRIPTS); do \
	  sed -e 's|$$here/../share/bk/bk-common.sh|$(SHAREDIR)/bk-common.sh|' $$s >$(DESTDIR)$(BINDIR)/$${s#scripts/} && \
	  chmod 0755 $(DESTDIR)$(BINDIR)/$${s#scripts/}; done
	sed -e 's|@VERSION@|$(VERSION)|' scripts/lib/bk-common.sh >$(DESTDIR)$(SHAREDIR)/bk-common.sh
	chmod 0644 $(DESTDIR)$(SHAREDIR)/bk-common.sh
	for m in $(MANPAGES); do case $$m in *.5) install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/;; *.7) install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/;; *) install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/;; esac; done
	for u in tg-relay raffle-watch; do \
	  sed -e 's|/usr/local/bin|$(BINDIR)|g' scripts/$$u.service >$(DESTDIR)$(SHAREDIR)/$$u.service && \
	  chmod 0644 $(DESTDIR)$(SHAREDIR)/$$u.service; done
	sed -e 's|/usr/local/bin|$(BINDIR)|g' crontab/bk.crontab >$(DESTDIR)$(SHAREDIR)/bk.crontab
	chmod 0644 $(DESTDIR)$(SHAREDIR)/bk.crontab

clean:
	rm -rf build build-asan build-tsan build-fuzz build-flaky bin bin-asan bin-tsan

.PHONY: format format-check all unit bats check check-asan check-tsan check-stress check-flaky lint demo bench install clean fuzz fuzz-replay check-valgrind
.SECONDARY:
