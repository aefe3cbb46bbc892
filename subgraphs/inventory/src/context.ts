import { byIdLoader, type BaseContext, type Loader } from '@agora/service';
import { Product, type ProductEntity } from './modules/product/product.entity.ts';
import type { ProductRepository } from './modules/product/product.repository.ts';

export interface Context extends BaseContext {
  products: ProductRepository;
  productById: Loader<string, ProductEntity | null>;
}

export const buildContext = (base: BaseContext): Context => ({
  ...base,
  products: base.em.getRepository(Product),
  productById: byIdLoader(base.em, Product),
});
