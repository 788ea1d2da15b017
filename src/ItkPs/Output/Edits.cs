using ItkPs.Core.Spec;

namespace ItkPs;

/// <summary>What Edit-ItkSpec did to a spec: the edits applied, those already there, and the diff.</summary>
public sealed class SpecEditInfo
{
    internal SpecEditInfo(SpecEditResult r, string path)
    {
        Path = path;
        Changed = r.Changed;
        Applied = r.Applied.ToArray();
        AlreadyPresent = r.AlreadyPresent.ToArray();
        Diff = r.Diff;
        NotNeeded = r.NotNeeded.ToArray();
        PreforkDirectory = r.PreforkDirectory;
        ItkDirectory = r.ItkDirectory;
        Layout = r.Layout;
    }

    /// <summary>The spec written (-Path, or -OutFile when given).</summary>
    public string Path { get; }
    /// <summary>False when the spec already had every edit.</summary>
    public bool Changed { get; }
    /// <summary>The recipe's edits made now, and those the spec already had.</summary>
    public string[] Applied { get; }
    public string[] AlreadyPresent { get; }
    /// <summary>Edits this spec does not need, each with the reason (a main %files that lists each file needs no %exclude).</summary>
    public string[] NotNeeded { get; }
    /// <summary>The prefork folder %prep copies, and where itk is built from (relative to the top of the source tree).</summary>
    public string PreforkDirectory { get; }
    public string ItkDirectory { get; }
    /// <summary>Where prefork was found (or that it was assumed) and where itk goes, in words.</summary>
    public string Layout { get; }
    /// <summary>The unified diff of the change; empty when nothing changed.</summary>
    public string Diff { get; }

    public override string ToString() => Path;
}

/// <summary>One file Enable-/Disable-ItkHttpd looked at: what it is for, whether it changed, the diff.</summary>
public sealed class FileEditInfo
{
    internal FileEditInfo(FileEdit e)
    {
        Path = e.Path;
        Description = e.Description;
        Changed = e.Changed;
        Diff = e.Diff;
    }

    public string Path { get; }
    public string Description { get; }
    /// <summary>False when the file already said what it should (nothing was written).</summary>
    public bool Changed { get; }
    /// <summary>The unified diff of the change; empty when nothing changed.</summary>
    public string Diff { get; }

    public override string ToString() => Path;
}
