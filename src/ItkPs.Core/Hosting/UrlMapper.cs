using System.Text;

namespace ItkPs.Core.Hosting;

/// <summary>Where a request path leads inside a DocumentRoot, or the status that refuses it.</summary>
public readonly record struct MappedPath(int Status, string? FilePath, bool TrailingSlash)
{
    public bool Ok => Status == 0;

    /// <summary>The normalised URL path with the trailing slash the client wrote (Apache's r->uri).</summary>
    public string Uri => FilePath is null ? "/" : TrailingSlash && FilePath != "/" ? FilePath + "/" : FilePath;
}

/// <summary>
/// Maps the raw request target to a file under the DocumentRoot the way Apache's core does:
/// percent-decoding once, refusing encoded slashes (AllowEncodedSlashes Off: 404), backslashes
/// and NUL, removing "." and resolving ".." without ever leaving the root (400 like Apache),
/// and refusing ".ht*" names (403, Apache's default &lt;Files ".ht*"&gt;). The kernel, running as the
/// vhost's user, still has the last word on every open.
/// </summary>
public static class UrlMapper
{
    public static MappedPath Map(string documentRoot, string rawTarget)
    {
        var url = Normalize(rawTarget);
        if (!url.Ok) return url;
        return new(0, Under(documentRoot, url.FilePath!), url.TrailingSlash);
    }

    /// <summary>
    /// The decoded, normalised URL path of a raw request target ("/a/b", always starting with '/'),
    /// in <see cref="MappedPath.FilePath"/>; or the status that refuses it.
    /// </summary>
    public static MappedPath Normalize(string rawTarget)
    {
        string path = rawTarget;
        int q = path.IndexOfAny(['?', '#']);
        if (q >= 0) path = path[..q];
        if (path.Length == 0 || path[0] != '/')
        {
            // absolute-form ("GET http://host/x") → its path; anything else is not a path.
            int scheme = path.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0) return new(400, null, false);
            int slash = path.IndexOf('/', scheme + 3);
            path = slash < 0 ? "/" : path[slash..];
        }
        if (path.Contains("%2f", StringComparison.OrdinalIgnoreCase) || path.Contains("%5c", StringComparison.OrdinalIgnoreCase))
            return new(404, null, false);
        string? decoded = PercentDecode(path);
        if (decoded is null || decoded.Contains('\0')) return new(400, null, false);
        if (decoded.Contains('\\')) return new(404, null, false);

        var segments = new List<string>();
        foreach (var s in decoded.Split('/'))
        {
            if (s.Length == 0 || s == ".") continue;
            if (s == "..")
            {
                if (segments.Count == 0) return new(400, null, false);
                segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(s);
        }
        if (segments.Any(s => s.StartsWith(".ht", StringComparison.OrdinalIgnoreCase))) return new(403, null, false);
        return new(0, "/" + string.Join('/', segments), decoded.EndsWith('/'));
    }

    /// <summary>A normalised URL path (from <see cref="Normalize"/>) as a file under a directory.</summary>
    public static string Under(string directory, string urlPath) =>
        urlPath == "/" ? directory : Path.Combine(directory, urlPath.TrimStart('/'));

    /// <summary>%XX decoding into UTF-8; null for a malformed escape or invalid UTF-8 (Apache: 400).</summary>
    public static string? PercentDecode(string s)
    {
        if (!s.Contains('%')) return s;
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] != '%') { bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString())); continue; }
            if (i + 2 >= s.Length || !Uri.IsHexDigit(s[i + 1]) || !Uri.IsHexDigit(s[i + 2])) return null;
            bytes.Add(Convert.ToByte(s.Substring(i + 1, 2), 16));
            i += 2;
        }
        try { return new UTF8Encoding(false, true).GetString(bytes.ToArray()); }
        catch (DecoderFallbackException) { return null; }
    }
}
