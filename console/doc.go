// Package console is sluice's web console: plain HTML, CSS and JavaScript
// modules (no build step) and the vendored uPlot chart library, embedded
// in the binary and served by Handler at /console/. The pages use only the
// public API of the sluice that served them, with the admin key the
// operator enters once (kept in the tab's sessionStorage).
//
// The no_ui build tag leaves the assets out; /console/ then says so.
// vendor.sh updates uPlot from npm.
package console
