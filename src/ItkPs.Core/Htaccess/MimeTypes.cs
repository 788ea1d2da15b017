namespace ItkPs.Core.Htaccess;

/// <summary>TypesConfig: extension → media type from /etc/mime.types, as Apache's mod_mime reads it.</summary>
public sealed class MimeTypes
{
    private readonly Dictionary<string, string> _types = new(StringComparer.OrdinalIgnoreCase);

    public static readonly MimeTypes System = Load("/etc/mime.types");

    public static MimeTypes Load(string path)
    {
        var m = new MimeTypes();
        if (!File.Exists(path)) return m;
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            for (int i = 1; i < parts.Length; i++) m._types[parts[i]] = parts[0].ToLowerInvariant();
        }
        return m;
    }

    public string? Find(string extension) => _types.GetValueOrDefault(extension);
}
