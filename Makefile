# Builds hybridsync and its packages (see installer/README.md). Output goes
# under $(DIST):
#
#   make build          $(DIST)/linux-amd64/hybridsync (static, CGO_ENABLED=0)
#   make build-windows  $(DIST)/windows-amd64/hybridsync.exe
#   make deb            $(DIST)/hybridsync_$(DEB_VERSION)_amd64.deb
#   make msi            $(DIST)/hybridsync-$(MSI_VERSION)-x64.msi
#   make packages       both packages
#   make clean          removes $(DIST)
#
# VERSION defaults to "git describe --tags --always" (read only: no index
# refresh); installer/version.sh turns it into the packages' versions.

GO      ?= go
DIST    ?= dist
VERSION ?= $(shell GIT_OPTIONAL_LOCKS=0 git describe --tags --always 2>/dev/null || echo dev)
DEB_VERSION := $(shell sh installer/version.sh deb '$(VERSION)')
MSI_VERSION := $(shell sh installer/version.sh msi '$(VERSION)')

BUILD_FLAGS := -trimpath -ldflags '-s -w -X github.com/hybridsync/hybridsync/agent/cli.version=$(VERSION)'
LINUX_BIN   := $(DIST)/linux-amd64/hybridsync
WINDOWS_EXE := $(DIST)/windows-amd64/hybridsync.exe

.PHONY: build build-windows deb msi packages clean

build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(BUILD_FLAGS) -o $(LINUX_BIN) .

build-windows:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build $(BUILD_FLAGS) -o $(WINDOWS_EXE) .

deb: build
	GO='$(GO)' installer/linux/build-deb.sh $(LINUX_BIN) '$(DEB_VERSION)' $(DIST)

msi: build-windows
	installer/windows/build-msi.sh $(WINDOWS_EXE) '$(MSI_VERSION)' $(DIST)

packages: deb msi

clean:
	rm -rf $(DIST)
