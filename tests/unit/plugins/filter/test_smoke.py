def test_x():
    import ansible_collections.pgops.backup.plugins.filter.policy as m
    print(m.__file__)
