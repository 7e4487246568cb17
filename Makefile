# cprof - build, test, install.  See README.md.
#
#   make            build ./cprof (installs missing Debian packages when root)
#   make demo       profile the bundled demo program and show its top functions
#   make test       unit + end-to-end tests, then the same under ASan+UBSan
#   make bench      pause times and target slowdown beside perf (not a test)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
CXX ?= c++
B := build

PKGS := libunwind-generic libdw libelf libprotobuf-c zlib libmicrohttpd
# Debian packages: to build, and to run the tests
DEPS_BUILD := gcc make pkg-config linux-libc-dev libunwind-dev libelf-dev libdw-dev \
	libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libmicrohttpd-dev
DEPS_TEST := g++ golang-go perl binutils elfutils procps python3 linux-perf valgrind strace gdb \
	chromium libc6-dbg redis-server curl nodejs systemtap-sdt-dev
# only for make bench: the tools cprof's heap profiles are measured beside
DEPS_BENCH := heaptrack bpfcc-tools redis-tools linux-headers-amd64
DEPS := $(DEPS_BUILD) $(DEPS_TEST)

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lstdc++ -lpthread -lm
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# every .c of a folder is built: a new file needs no line here
SRCS := $(wildcard lib/*.c symbolize/*.c attach/*.c profiles/*.c)
CMD_SRCS := $(wildcard cmd/*.c)
GEN := $(B)/gen/profile.pb-c.c
HDRS := $(wildcard */*.h) $(B)/gen/profile.pb-c.h $(B)/gen/syscalls.h

OBJS := $(patsubst %.c,$(B)/obj/%.o,$(SRCS) $(CMD_SRCS)) $(B)/obj/gen/profile.pb-c.o
ASAN_OBJS := $(patsubst $(B)/obj/%,$(B)/asan/obj/%,$(OBJS))
LIB_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(SRCS)) $(B)/obj/gen/profile.pb-c.o
ASAN_LIB_OBJS := $(patsubst $(B)/obj/%,$(B)/asan/obj/%,$(LIB_OBJS))

TARGET_SRCS := $(wildcard tests/targets/*.c)
TARGETS := $(B)/targets/burn $(B)/targets/burn-nopie $(B)/targets/burn-fp $(B)/targets/burn-df \
	$(B)/targets/cxxburn $(B)/targets/spawner $(B)/targets/sigcount \
	$(B)/targets/sigsend $(B)/targets/jit $(B)/targets/states \
	$(B)/targets/waits $(B)/targets/waits-fp $(B)/targets/hostile \
	$(B)/targets/sigmix $(B)/targets/plt $(B)/targets/goprof $(B)/targets/gospin \
	$(B)/targets/shares $(B)/targets/tailcall $(B)/targets/forktree \
	$(B)/targets/heapmix $(B)/targets/heapmix-static $(B)/targets/cxxheap $(B)/targets/noperf \
	$(B)/targets/otelmix

.PHONY: all deps deps-bench demo test unit-test e2e-test bench torture fuzz fuzz-elf fuzz-profile fuzz-http install clean check-deps
all: cprof

# Install what the build and tests need (Debian), or say what is missing.
deps:
	@missing=$$(for p in $(DEPS); do dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "cprof: missing Debian packages: $$missing"; \
		echo "cprof: install them with: sudo apt-get install $$missing (or: sudo make deps)"; exit 1; \
	fi

$(B)/.deps-ok: Makefile
	@$(MAKE) -s deps
	@mkdir -p $(B) && touch $@

# make bench's own: installed when it runs, not for the tests
deps-bench:
	@$(MAKE) -s deps DEPS="$(DEPS_BENCH)"

cprof: $(B)/cprof
	@ln -sf $(B)/cprof cprof

$(B)/gen/profile.pb-c.c $(B)/gen/profile.pb-c.h: profiles/profile.proto $(B)/.deps-ok
	@mkdir -p $(B)/gen
	protoc-c --proto_path=profiles --c_out=$(B)/gen profiles/profile.proto

# x86-64 system call names, from the kernel's own numbering
UNISTD := /usr/include/x86_64-linux-gnu/asm/unistd_64.h
$(B)/gen/syscalls.h: $(B)/.deps-ok
	@mkdir -p $(B)/gen
	@awk 'BEGIN { print "/* generated from $(UNISTD) */"; print "static const char *const syscall_names[] = {" } \
		/^#define __NR_[a-z0-9_]+ [0-9]+$$/ { n = $$2; sub("__NR_", "", n); printf "\t[%d] = \"%s\",\n", $$3, n } \
		END { print "};" }' $(UNISTD) > $@

$(B)/obj/gen/profile.pb-c.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-error -c -o $@ $<
$(B)/asan/obj/gen/profile.pb-c.o: $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -Wno-error -c -o $@ $<

$(B)/obj/%.o: %.c $(HDRS) $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(B)/asan/obj/%.o: %.c $(HDRS) $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

$(B)/cprof: $(OBJS) $(B)/libcprof-heap.so
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(LIBS)
$(B)/asan/cprof: $(ASAN_OBJS) $(B)/asan/libcprof-heap.so
	$(CC) $(CFLAGS) $(SAN) -o $@ $(ASAN_OBJS) $(LIBS)

# The library record -t heap/allocs preloads into a command it launches
# (preload/heapsample.c), beside each cprof: never sanitized, it runs in
# the command
PRELOAD_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O2 -g -fPIC -shared \
	-fvisibility=hidden -ftls-model=initial-exec
$(B)/libcprof-heap.so $(B)/asan/libcprof-heap.so: preload/heapsample.c preload/heapset.h
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -o $@ $< -lm

# the type table (cmd/profiles.c) too: it links against the modes only
$(B)/tests/unit: tests/unit/unit.c $(LIB_OBJS) $(B)/obj/cmd/profiles.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)
$(B)/asan/tests/unit: tests/unit/unit.c $(ASAN_LIB_OBJS) $(B)/asan/obj/cmd/profiles.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $^ $(LIBS)

# Test targets: known stacks, functions in separate files, -O2 -g.
TFLAGS := -O2 -g -pthread -Wall
$(B)/targets/burn: tests/targets/burn.c tests/targets/work.c tests/targets/work.h
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -o $@ tests/targets/burn.c tests/targets/work.c
# a static program: nothing can be preloaded into it (t0028)
$(B)/targets/heapmix-static: tests/targets/heapmix.c
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -static -o $@ $< -lpthread
# <sys/sdt.h>: systemtap-sdt-dev
$(B)/targets/otelmix: tests/targets/otelmix.c $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -o $@ $< -lm

$(B)/targets/burn-nopie: tests/targets/burn.c tests/targets/work.c tests/targets/work.h
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -fno-pie -no-pie -o $@ tests/targets/burn.c tests/targets/work.c
$(B)/targets/burn-fp: tests/targets/burn.c tests/targets/work.c tests/targets/work.h
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -fno-omit-frame-pointer -o $@ tests/targets/burn.c tests/targets/work.c
# its frames in .debug_frame only (no .eh_frame, no .eh_frame_hdr)
$(B)/targets/burn-df: tests/targets/burn.c tests/targets/work.c tests/targets/work.h
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -fno-asynchronous-unwind-tables -o $@.tmp tests/targets/burn.c tests/targets/work.c
	objcopy -R .eh_frame_hdr -R .eh_frame $@.tmp $@ && rm -f $@.tmp
# tail calls across files (t0017)
$(B)/targets/tailcall: tests/targets/tailcall.c tests/targets/tailcall2.c tests/targets/tailcall.h
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -o $@ tests/targets/tailcall.c tests/targets/tailcall2.c
$(B)/targets/waits-fp: tests/targets/waits.c
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -fno-omit-frame-pointer -o $@ $<
$(B)/targets/cxxburn: tests/targets/cxxburn.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(TFLAGS) -o $@ $<
$(B)/targets/cxxheap: tests/targets/cxxheap.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(TFLAGS) -o $@ $<
# Go's runtime/pprof writes profiles for cprof report to read (t0015);
# gospin is a Go program to unwind (t0009).
define go_build
	@mkdir -p $(dir $@) $(B)/go
	cd $(B)/go && GOCACHE=$(abspath $(B))/go/cache GOPATH=$(abspath $(B))/go/path GOFLAGS= \
		go build -o $(abspath $@) $(abspath $<)
endef
$(B)/targets/goprof: tests/targets/goprof/main.go
	$(go_build)
$(B)/targets/gospin: tests/targets/gospin/main.go
	$(go_build)
$(B)/targets/%: tests/targets/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -o $@ $<

E2E := $(sort $(wildcard tests/t[0-9]*.sh))
ASAN_E2E := $(patsubst tests/%,$(B)/asan-tests/%,$(E2E))
# The ASan run is also the ptrace sampler's: each test that does not ask
# for a sampler runs once with the kernel's (plain) and once with ptrace
# stops (CPROF_SAMPLER=ptrace); the kernel sampler's own tests ask for it.
$(B)/asan-tests/%.sh: tests/%.sh
	@mkdir -p $(dir $@)
	@printf '#!/bin/bash\n# %s under ASan+UBSan, cpu by ptrace stops where a test leaves it to cprof\nexport CPROF_SAN=1 CPROF_SAMPLER=ptrace\nexec bash %s "$$@"\n' $< $< > $@

.SECONDARY:
test: $(B)/.deps-ok $(B)/cprof $(B)/asan/cprof $(B)/tests/unit $(B)/asan/tests/unit $(TARGETS) \
		$(ASAN_E2E) $(B)/asan-tests/unit.sh
	prove -e bash tests/unit.sh $(E2E) $(B)/asan-tests/unit.sh $(ASAN_E2E)

$(B)/asan-tests/unit.sh: tests/unit.sh
	@mkdir -p $(dir $@)
	@printf '#!/bin/bash\nexport CPROF_SAN=1\nexec bash tests/unit.sh\n' > $@

# The long version of tests/t0014-torture.sh: 50 trials of each random one;
# and of tests/t0018-follow.sh: cprof SIGKILLed 30 times over a tree of 20
# forking processes.
torture: $(B)/.deps-ok $(B)/cprof $(B)/asan/cprof $(TARGETS)
	CPROF_TORTURE=1 prove -e bash tests/t0014-torture.sh
	CPROF_TORTURE=1 CPROF_SAN=1 prove -e bash tests/t0014-torture.sh
	CPROF_TORTURE=1 prove -e bash tests/t0018-follow.sh
	CPROF_TORTURE=1 prove -e bash tests/t0025-heap.sh

# Fuzz with libFuzzer (clang), FUZZ_TIME seconds per harness; FUZZ=elf or
# FUZZ=profile runs one.  elf: the ELF/DWARF path cprof owns, from a seed
# corpus made of the test targets (plain, stripped, compressed debug info).
# profile: the profile reader and every report format, from the profiles in
# tests/fuzz/profiles plus ones Go's runtime/pprof writes now.  http: cprof
# serve's request parsing (profiles/httpreq.c), from tests/fuzz/http.
FUZZ_TIME ?= 300
FUZZ ?= elf profile http
FUZZ_FLAGS := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
$(B)/fuzz/elf-fuzz: tests/fuzz/elf_fuzz.c $(SRCS) $(HDRS) $(GEN)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
		-o $@ tests/fuzz/elf_fuzz.c $(SRCS) $(GEN) $(LIBS)
$(B)/fuzz/profile-fuzz: tests/fuzz/profile_fuzz.c $(SRCS) $(HDRS) $(GEN)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
		-o $@ tests/fuzz/profile_fuzz.c $(SRCS) $(GEN) $(LIBS)

$(B)/fuzz/http-fuzz: tests/fuzz/http_fuzz.c $(SRCS) $(HDRS) $(GEN)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -I$(B)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
		-o $@ tests/fuzz/http_fuzz.c $(SRCS) $(GEN) $(LIBS)

fuzz: $(B)/.deps-ok $(TARGETS)
	@command -v clang >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq clang >/dev/null; } || \
		{ echo "cprof: make fuzz needs clang (apt-get install clang)"; exit 1; }
	@for h in $(FUZZ); do $(MAKE) -s fuzz-$$h || exit 1; done

fuzz-elf:
	@$(MAKE) -s $(B)/fuzz/elf-fuzz
	@rm -rf $(B)/fuzz/corpus && mkdir -p $(B)/fuzz/corpus
	@for t in burn burn-fp burn-df jit hostile; do \
		cp $(B)/targets/$$t $(B)/fuzz/corpus/$$t; \
		strip -o $(B)/fuzz/corpus/$$t.stripped $(B)/targets/$$t; \
		objcopy --compress-debug-sections=zlib $(B)/targets/$$t $(B)/fuzz/corpus/$$t.zdebug; \
	done
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(B)/fuzz/elf-fuzz -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -rss_limit_mb=4096 \
		-artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus 2>&1 | tail -25

fuzz-profile:
	@$(MAKE) -s $(B)/fuzz/profile-fuzz
	@rm -rf $(B)/fuzz/profile-corpus && mkdir -p $(B)/fuzz/profile-corpus
	@cp tests/fuzz/profiles/* $(B)/fuzz/profile-corpus/
	@$(B)/targets/goprof $(B)/fuzz/profile-corpus >/dev/null 2>&1 || echo "goprof failed: no Go profiles in the corpus"
	$(B)/fuzz/profile-fuzz -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -rss_limit_mb=2048 \
		-max_len=65536 -artifact_prefix=$(B)/fuzz/profile- $(B)/fuzz/profile-corpus 2>&1 | tail -25

fuzz-http:
	@$(MAKE) -s $(B)/fuzz/http-fuzz
	@rm -rf $(B)/fuzz/http-corpus && mkdir -p $(B)/fuzz/http-corpus
	@cp tests/fuzz/http/* $(B)/fuzz/http-corpus/
	$(B)/fuzz/http-fuzz -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -rss_limit_mb=1024 \
		-max_len=4096 -artifact_prefix=$(B)/fuzz/http- $(B)/fuzz/http-corpus 2>&1 | tail -25

demo: $(B)/cprof $(B)/targets/burn
	@bash tests/demo.sh

$(B)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TFLAGS) -o $@ $<

bench: deps-bench $(B)/cprof $(TARGETS) $(B)/bench/spin $(B)/bench/bareloop $(B)/bench/many \
		$(B)/bench/mallocloop $(B)/bench/uprobe-kill $(B)/bench/hwbp
	@bash tests/bench/bench.sh

install: $(B)/cprof
	install -D -m 755 $(B)/cprof $(DESTDIR)$(PREFIX)/bin/cprof
	install -D -m 644 $(B)/libcprof-heap.so $(DESTDIR)$(PREFIX)/lib/cprof/libcprof-heap.so
	install -D -m 644 man/cprof.1 $(DESTDIR)$(PREFIX)/share/man/man1/cprof.1

clean:
	rm -rf $(B) cprof
