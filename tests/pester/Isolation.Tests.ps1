# Test-ItkVhost finds what would let another tenant read a site; Set-ItkUser -FixPermissions
# removes it. The kernel (runuser as the other tenant) is the judge, not our own code.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    New-TestUser 'itkt-iso'
    New-TestUser 'itkt-other'
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Doc = Join-Path $Base 'iso'
    New-Item -ItemType Directory -Force "$Doc/cgi-bin" | Out-Null
    Set-Content "$Doc/index.html" 'public page'
    Set-Content "$Doc/.htpasswd" 'alice:$apr1$secret'
    Set-Content "$Doc/config.php" '<?php $db_password = "hunter2";'
    Set-Content "$Doc/cgi-bin/run.cgi" "#!/bin/sh`necho hi"
    chown -R itkt-iso:itkt-iso $Doc
    chmod 0750 $Doc "$Doc/cgi-bin"
    chmod 0640 "$Doc/index.html" "$Doc/config.php"
    chmod 0755 "$Doc/cgi-bin/run.cgi"
    # The plants: a world-readable .htpasswd in a world-enterable docroot, and a file owned by root.
    chmod 0644 "$Doc/.htpasswd"
    chmod o+x $Doc
    chown root:root "$Doc/config.php"
    chmod 0644 "$Doc/config.php"
    New-ItkVhost -ConfigRoot $Root -Name 'iso.itkt.test' -DocumentRoot $Doc -User 'itkt-iso' -Listen '127.0.0.1:18183'
}

AfterAll {
    Remove-TestUser 'itkt-iso', 'itkt-other'
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'Isolation audit' {
    It 'lets the other tenant read the planted .htpasswd (the plant is real)' {
        (Invoke-AsUser 'itkt-other' @('cat', "$Doc/.htpasswd")).ExitCode | Should -Be 0
    }

    It 'reports the world-readable .htpasswd as a sensitive, high-severity finding' {
        $f = Test-ItkVhost -ConfigRoot $Root -Name 'iso.itkt.test' | Where-Object Path -eq "$Doc/.htpasswd"
        $f.Problem | Should -Contain 'WorldReadable'
        ($f | Where-Object Problem -eq 'WorldReadable').Sensitive | Should -BeTrue
        ($f | Where-Object Problem -eq 'WorldReadable').Severity | Should -Be 'High'
        ($f | Where-Object Problem -eq 'WorldReadable').Fix | Should -Be "chmod o-rwx '$Doc/.htpasswd'"
    }

    It 'reports the file owned by root as an owner mismatch, and the world-enterable docroot' {
        $all = Test-ItkVhost -ConfigRoot $Root -Name 'iso.itkt.test'
        ($all | Where-Object { $_.Path -eq "$Doc/config.php" -and $_.Problem -eq 'OwnerMismatch' }).Fix | Should -Be "chown itkt-iso:itkt-iso '$Doc/config.php'"
        $all | Where-Object { $_.Path -eq $Doc -and $_.Problem -eq 'WorldReadable' } | Should -Not -BeNullOrEmpty
        $all | Where-Object { $_.Path -eq "$Doc/index.html" } | Should -BeNullOrEmpty
    }

    It 'Set-ItkUser -FixPermissions reports what it changed' {
        $changes = Set-ItkUser -ConfigRoot $Root -Name 'iso.itkt.test' -User 'itkt-iso' -FixPermissions
        $byPath = @{}; $changes | ForEach-Object { $byPath[$_.Path] = $_ }
        $byPath["$Doc/.htpasswd"].NewMode | Should -Be '0640'
        $byPath["$Doc/config.php"].OldOwner | Should -Be 'root:root'
        $byPath["$Doc/config.php"].NewOwner | Should -Be 'itkt-iso:itkt-iso'
        $byPath["$Doc/cgi-bin/run.cgi"].NewMode | Should -Be '0740'
        $byPath[$Doc].NewMode | Should -Be '0750'
        $byPath.ContainsKey("$Doc/index.html") | Should -BeFalse
    }

    It 'reports nothing afterwards' {
        Test-ItkVhost -ConfigRoot $Root -Name 'iso.itkt.test' | Should -BeNullOrEmpty
    }

    It 'and the kernel now refuses the other tenant while the owner still reads its files' {
        $denied = Invoke-AsUser 'itkt-other' @('cat', "$Doc/.htpasswd")
        $denied.ExitCode | Should -Not -Be 0
        $denied.Output | Should -Match 'Permission denied'
        (Invoke-AsUser 'itkt-iso' @('cat', "$Doc/.htpasswd")).Output | Should -Be 'alice:$apr1$secret'
        (Invoke-AsUser 'itkt-iso' @("$Doc/cgi-bin/run.cgi")).Output | Should -Be 'hi'
    }

    It 'never follows a symlink out of the DocumentRoot' {
        $outside = Join-Path $Base 'outside.txt'
        Set-Content $outside 'not the tenant''s'
        chmod 0644 $outside
        New-Item -ItemType SymbolicLink -Path "$Doc/escape" -Target $outside | Out-Null
        (Test-ItkVhost -ConfigRoot $Root -Name 'iso.itkt.test').Problem | Should -Contain 'SymlinkOutsideRoot'
        Set-ItkUser -ConfigRoot $Root -Name 'iso.itkt.test' -User 'itkt-iso' -FixPermissions | Out-Null
        (& stat -c '%U %a' $outside) | Should -Be 'root 644'
    }
}
