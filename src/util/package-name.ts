// The name the package is published under on the npm registry. The unscoped `lastmile` belongs to
// an unrelated package, so we publish as `lastmile-qzo`; the command it installs is still
// `lastmile` (docs/PACKAGING.md).
export const PACKAGE_NAME = 'lastmile-qzo';
