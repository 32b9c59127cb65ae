package images

// ReloadAppBinary is the reload test app's executable; its name is what reload-process names.
const ReloadAppBinary = "/usr/local/bin/reloadapp"

// ReloadApp is the issue-13 test app (see test/reloadapp): it re-reads its secret file on a POST
// to /-/reload or on SIGHUP.
func ReloadApp() Image {
	return Image{Name: "reloadapp", Binaries: []Binary{{"./test/reloadapp", ReloadAppBinary}}, Entrypoint: []string{ReloadAppBinary}}
}
