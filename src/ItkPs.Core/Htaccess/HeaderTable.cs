namespace ItkPs.Core.Htaccess;

/// <summary>
/// An ordered table of name/value pairs with case-insensitive names, as Apache's apr_table: request
/// and response headers, the environment handed to scripts (subprocess_env) and request notes.
/// Small by nature (a few dozen entries), so a list beats a dictionary here.
/// </summary>
public sealed class HeaderTable : IEnumerable<KeyValuePair<string, string>>
{
    private readonly List<KeyValuePair<string, string>> _items;

    public HeaderTable() { _items = new(); }
    public HeaderTable(int capacity) { _items = new(capacity); }
    public HeaderTable(HeaderTable other) { _items = new(other._items); }

    public int Count => _items.Count;

    /// <summary>The first value under the name, or null.</summary>
    public string? Get(string name)
    {
        foreach (var kv in _items)
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) return kv.Value;
        return null;
    }

    public bool Contains(string name) => Get(name) is not null;

    /// <summary>Every value under the name, in order.</summary>
    public IEnumerable<string> GetAll(string name)
    {
        foreach (var kv in _items)
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) yield return kv.Value;
    }

    /// <summary>Replaces every entry of the name with one (apr_table_set).</summary>
    public void Set(string name, string value)
    {
        int first = -1;
        for (int i = 0; i < _items.Count; i++)
        {
            if (!string.Equals(_items[i].Key, name, StringComparison.OrdinalIgnoreCase)) continue;
            if (first < 0) { first = i; _items[i] = new(name, value); }
            else { _items.RemoveAt(i); i--; }
        }
        if (first < 0) _items.Add(new(name, value));
    }

    /// <summary>Adds an entry even when the name is there (apr_table_add).</summary>
    public void Add(string name, string value) => _items.Add(new(name, value));

    /// <summary>Appends to the first entry with ", " or adds one (apr_table_merge).</summary>
    public void Merge(string name, string value)
    {
        for (int i = 0; i < _items.Count; i++)
        {
            if (!string.Equals(_items[i].Key, name, StringComparison.OrdinalIgnoreCase)) continue;
            _items[i] = new(_items[i].Key, _items[i].Value.Length == 0 ? value : _items[i].Value + ", " + value);
            return;
        }
        _items.Add(new(name, value));
    }

    public void Unset(string name) => _items.RemoveAll(kv => string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase));

    public void Clear() => _items.Clear();

    /// <summary>Copies every entry of another table over this one (apr_table_overlap with set semantics per name).</summary>
    public void Overlay(HeaderTable other)
    {
        foreach (var kv in other._items) Set(kv.Key, kv.Value);
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _items.GetEnumerator();
    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
