# examples/provision-shared-host.ps1 provisions customers idempotently: a second run changes nothing.
BeforeAll {
    Import-Module $env:ITKPS_MODULE_PATH -Force
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Runbook = Join-Path $PSScriptRoot '../../examples/provision-shared-host.ps1'
    $script:Base = New-TestRoot
    $script:Root = Join-Path $Base 'etc'
    $script:Www = Join-Path $Base 'www'
    $script:Customers = @(
        [pscustomobject]@{ Name = 'p1.itkt.test'; User = 'itkt-p1'; Alias = 'www.p1.itkt.test'; Php = 'FastCgi' }
        [pscustomobject]@{ Name = 'p2.itkt.test'; User = 'itkt-p2'; Alias = '*.p2.itkt.test' }
        [pscustomobject]@{ Name = 'p3.itkt.test'; User = 'itkt-p3'; Alias = '' }
    )
    Remove-TestUser $Customers.User
    $script:First = & $Runbook -Customers $Customers -ConfigRoot $Root -WebRoot $Www -Listen '127.0.0.1:18184'
}

AfterAll {
    & $Runbook -Customers $Customers -ConfigRoot $Root -WebRoot $Www -Remove | Out-Null
    Remove-TestUser $Customers.User
    Remove-Item -Recurse -Force $Base -ErrorAction SilentlyContinue
}

Describe 'provision-shared-host.ps1' {
    It 'provisions every customer: user, docroot, vhost, permissions' {
        foreach ($c in $Customers) {
            $r = $First | Where-Object Name -eq $c.Name
            $r.Changes | Should -Contain 'user created'
            $r.Changes | Should -Contain 'vhost created'
            $v = Get-ItkVhost -ConfigRoot $Root -Name $c.Name
            $v.User | Should -Be $c.User
            (& stat -c '%U %a' (Join-Path $Www $c.Name)) | Should -Be "$($c.User) 750"
        }
        Test-ItkVhost -ConfigRoot $Root | Should -BeNullOrEmpty
        Test-ItkConfig -ConfigRoot $Root | Should -BeNullOrEmpty
        (Get-ItkVhost -ConfigRoot $Root -Name 'p1.itkt.test').Php | Should -Be 'FastCgi'
        (Get-ItkVhost -ConfigRoot $Root -Name 'p2.itkt.test').Php | Should -Be 'Off'
        (& stat -c '%U %a' (Join-Path $Www 'p1.itkt.test/whoami.php')) | Should -Be 'itkt-p1 640'
    }

    It 'changes nothing when run a second time' {
        $before = Get-TreeSnapshot $Root, $Www
        $passwd = Get-Content /etc/passwd
        $second = & $Runbook -Customers $Customers -ConfigRoot $Root -WebRoot $Www -Listen '127.0.0.1:18184'
        $second.Changes | Should -BeNullOrEmpty
        Get-TreeSnapshot $Root, $Www | Should -Be $before
        Get-Content /etc/passwd | Should -Be $passwd
    }

    It 'turns PHP off for a customer whose row says so, and changes nothing else' {
        $off = @($Customers | ForEach-Object { $x = $_.PSObject.Copy(); if ($x.Name -eq 'p1.itkt.test') { $x.Php = 'Off' }; $x })
        $run = & $Runbook -Customers $off -ConfigRoot $Root -WebRoot $Www -Listen '127.0.0.1:18184'
        ($run | Where-Object { $_.Changes }).Name | Should -Be 'p1.itkt.test'
        ($run | Where-Object Name -eq 'p1.itkt.test').Changes | Should -Be @('PHP Off')
        (Get-ItkVhost -ConfigRoot $Root -Name 'p1.itkt.test').Php | Should -Be 'Off'
        $script:Customers = $off
    }

    It 'provisions only the new customer when one is added' {
        $more = $Customers + [pscustomobject]@{ Name = 'p4.itkt.test'; User = 'itkt-p4'; Alias = '' }
        $script:Customers = $more
        $run = & $Runbook -Customers $more -ConfigRoot $Root -WebRoot $Www -Listen '127.0.0.1:18184'
        ($run | Where-Object { $_.Changes }).Name | Should -Be 'p4.itkt.test'
    }
}
