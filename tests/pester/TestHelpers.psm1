# Shared helpers for the Pester suites: real users, scratch folders, file snapshots.

function New-TestRoot {
    $path = Join-Path ([IO.Path]::GetTempPath()) ("itkps-pester-" + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $path | Out-Null
    chmod 0755 $path  # tenants must be able to traverse to their own docroots
    $path
}

function Remove-TestUser([string[]] $Name) {
    foreach ($n in $Name) {
        if (getent passwd $n) { userdel $n 2>$null | Out-Null }
        if (getent group $n) { groupdel $n 2>$null | Out-Null }
    }
}

function New-TestUser([string] $Name) {
    Remove-TestUser $Name
    useradd --system --no-create-home --shell /usr/sbin/nologin --user-group $Name
    if ($LASTEXITCODE -ne 0) { throw "useradd $Name failed" }
}

# Content hash, mode, owner and mtime of every file and folder below the given roots: if
# a command changed anything at all, the snapshot differs.
function Get-TreeSnapshot([string[]] $Path) {
    foreach ($p in $Path) {
        if (-not (Test-Path $p)) { "$p <absent>"; continue }
        foreach ($line in (& find $p -printf '%p %m %u:%g %T@ %s\n' | Sort-Object)) {
            $file = $line.Split(' ')[0]
            $hash = if (Test-Path -PathType Leaf $file) { (Get-FileHash -Algorithm SHA256 $file).Hash } else { 'dir' }
            "$line $hash"
        }
    }
}

# Runs a command as another user with the kernel's own permission checks.
function Invoke-AsUser([string] $User, [string[]] $Command) {
    $out = & runuser -u $User -- @Command 2>&1
    [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($out -join "`n") }
}

Export-ModuleMember -Function New-TestRoot, Remove-TestUser, New-TestUser, Get-TreeSnapshot, Invoke-AsUser
