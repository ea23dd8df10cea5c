/**
 * Path globs as operators write them for names and files (the configuration's `names`, the models'
 * `include`, `exclude` and restore `paths`). Pure: descriptors and the engine share it.
 */

/**
 * A glob as a regular expression over a whole name: `**` any run of characters (`**` followed by a slash
 * also matches no directory at all, so `runs/** /x` matches `runs/x`), `*` any run within one segment (no
 * slash), `?` one character but a slash; everything else literal.
 */
export function globPattern(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i++;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
